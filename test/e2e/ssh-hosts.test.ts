/**
 * Hypervisor hosts reached over SSH, end to end: three real sshd (test/support/sshd.ts) on
 * loopback addresses stand for three hosts, each with its own disk directory, and a fourth for
 * the backup server (an rsync datastore). A job backs up VMs on all three with
 * MAX_BACKUPS_HOST = 1 through each host's agent; every backup restores bit for bit. Increments
 * of disks without changed-block tracking move only the changed chunks, into an unencrypted
 * datastore (chunk IDs compared on the host) and an encrypted one (host digests). Faults: a
 * wrong host key (refused, never accepted, not retried), sshd of a host killed mid-backup
 * (retryable, nothing recorded, the retry succeeds when it is back), a host without a usable
 * SSH address refused at create.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostDigestKey } from '../../core/engine/host-digest-keys.js';
import { backupCopyOf, backupVm, restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, REPO, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { chunkFiles, manifestFiles } from '../support/datastore-faults.js';
import { backupConcurrency } from '../support/log-replay.js';
import { rpcOk } from '../support/rpc.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
const CONF =
  'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 3\nMAX_BACKUPS_HOST = 1\nWORKERS = 2\nMONITORING_INTERVAL_HOST = 2\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let work: string;
let d: RunningDaemon;
const hosts: TestSshd[] = [];
let server: TestSshd;
/** A fifth host for the faults. */
let faulty: TestSshd;
let datastore: number;
/** The second copy of every backup in `datastore` (COPY_DATASTORE_ID). */
let second: number;
/** VM ID -> its host's index, and its disk file. */
const hostOf = new Map<number, number>();
const diskOf = new Map<number, string>();
const cli = (name: string, args: string[], input?: string) =>
  runCli(name, args, d, input === undefined ? {} : { input });

async function eventually(what: string, cond: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n${d.logs().slice(-4000)}`);
    await sleep(100);
  }
}

const metricsText = async () => (await fetch(d.url.replace(/\/RPC2$/, '/metrics'))).text();

/** Bytes that crossed the SSH connections to a host's agent so far (from /metrics). */
async function agentBytes(host: string): Promise<number> {
  const text = await metricsText();
  let sum = 0;
  for (const m of text.matchAll(/^onebackup_host_agent_bytes_total\{([^}]*)\} (\d+)/gm))
    if ((m[1] as string).includes(`host="${host}"`)) sum += Number(m[2]);
  return sum;
}

/** A powered-off VM on `host` backed up in INCREMENT mode, its one disk 32 MiB of random bytes at `disk`. */
async function incrementVmOn(host: string, name: string, disk: string): Promise<number> {
  writeFileSync(disk, randomBytes(32 * MiB));
  return Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME = "${name}"\nHOST = "${host}"\nSTATE = "POWEROFF"\nBACKUP_CONFIG = [ MODE = "INCREMENT" ]\nDISK = [ SOURCE = "${disk}" ]\n`,
    ),
  );
}

async function vmXml(vm: number): Promise<string> {
  const r = await cli('onevm', ['show', String(vm), '-x']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

before(async () => {
  work = tempDir('onebackup-ssh-hosts-');
  for (const [i, addr] of ['127.0.0.2', '127.0.0.3', '127.0.0.4'].entries()) {
    mkdirSync(join(work, `host${i}`));
    hosts.push(await startSshd(join(work, `host${i}`), addr));
  }
  mkdirSync(join(work, 'faulty'));
  faulty = await startSshd(join(work, 'faulty'), '127.0.0.6');
  mkdirSync(join(work, 'server'));
  server = await startSshd(join(work, 'server'), '127.0.0.5');
  d = await startDaemon({ conf: CONF });
  for (const h of hosts) await rpcOk(d, 'one.host.allocate', h.hostTemplate('fs'));
  const copy = await cli(
    'onedatastore',
    ['create'],
    `NAME = "second"\nTYPE = "BACKUP_DS"\nBASE_PATH = "${join(work, 'second')}"\n`,
  );
  assert.equal(copy.code, 0, copy.stderr);
  second = Number(/ID: (\d+)/.exec(copy.stdout)?.[1]);
  const ds = await cli(
    'onedatastore',
    ['create'],
    `NAME = "offbox"\nTYPE = "BACKUP_DS"\nCOPY_DATASTORE_ID = ${second}\n${server.attributes(join(work, 'server', 'backups'))}\n`,
  );
  assert.equal(ds.code, 0, ds.stderr);
  datastore = Number(/ID: (\d+)/.exec(ds.stdout)?.[1]);
  // Two VMs per host, a raw and a qcow2 disk, each in that host's own directory.
  for (const [i, h] of hosts.entries()) {
    for (const format of ['raw', 'qcow2'] as const) {
      const disk = join(work, `host${i}`, `vm-${format}.img`);
      writeFileSync(`${disk}.raw`, randomBytes(6 * MiB));
      if (format === 'qcow2')
        execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', `${disk}.raw`, disk]);
      else execFileSync('cp', [`${disk}.raw`, disk]);
      const id = Number(
        await rpcOk(
          d,
          'one.vm.allocate',
          `NAME = "vm-${i}-${format}"\nHOST = "${h.host}"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}", FORMAT = "${format}" ]\n`,
        ),
      );
      hostOf.set(id, i);
      diskOf.set(id, disk);
    }
  }
});

after(async () => {
  await d?.stop();
  for (const h of [...hosts, server, faulty]) await h?.stop();
  cleanup(work);
});

describe('hypervisor hosts over SSH', () => {
  it('a job backs up VMs on three SSH hosts into a datastore on another, one at a time per host, each copied to a second datastore; both restore bit for bit', async () => {
    const vms = [...hostOf.keys()];
    const job = await cli(
      'onebackupjob',
      ['create'],
      `NAME = "cluster"\nBACKUP_VMS = "${vms.join(',')}"\nDATASTORE_ID = ${datastore}\nEXECUTION = "PARALLEL"\n`,
    );
    assert.equal(job.code, 0, job.stderr);
    const jobId = /ID: (\d+)/.exec(job.stdout)?.[1] as string;
    const run = await cli('onebackupjob', ['backup', jobId]);
    assert.equal(run.code, 0, run.stderr);
    await eventually('every VM backed up', async () => {
      const r = await cli('onebackupjob', ['show', jobId, '-x']);
      const updated = /<UPDATED_VMS>(.*?)<\/UPDATED_VMS>/s.exec(r.stdout)?.[1] ?? '';
      const errors = /<ERROR_VMS>(.*?)<\/ERROR_VMS>/s.exec(r.stdout)?.[1] ?? '';
      assert.equal(errors.includes('<ID>'), false, `a VM failed: ${r.stdout}\n${d.logs().slice(-3000)}`);
      return (updated.match(/<ID>/g) ?? []).length === vms.length;
    });
    assert.equal(backupConcurrency(d.logs(), hostOf).maxHost, 1, 'MAX_BACKUPS_HOST = 1 held on every host');
    for (const vm of vms) {
      const image = /<BACKUP_IDS>\s*<ID>(\d+)<\/ID>/.exec(await vmXml(vm))?.[1];
      assert.ok(image, `VM ${vm} has a backup`);
      await eventually(
        `the copy of image ${image}`,
        async () => (await backupCopyOf(d, image, second))?.['STATE'] === 'COPIED',
      );
      // From the off-box datastore, and from its second copy.
      for (const from of [[], ['--datastore', String(second)]]) {
        const to = tempDir('onebackup-ssh-restore-');
        try {
          const r = await cli('oneimage', ['restore', image, '--disk-id', '0', '--to', to, ...from]);
          assert.equal(r.code, 0, r.stderr);
          const file = /DISK 0: (\S+)/.exec(r.stdout)?.[1] as string;
          // The guest's bytes, whatever the file format: qemu-img compares what the guest sees.
          execFileSync('qemu-img', ['compare', '-q', file, `${diskOf.get(vm)}.raw`]);
        } finally {
          cleanup(to);
        }
      }
    }
    // The disks were read through each host's sshd (the agent's login), not from this machine.
    for (const h of hosts) assert.match(h.log(), /Accepted publickey/);
  });

  it('host monitoring: onehost list and show say each host is on, its free disk and agent version', async () => {
    await eventually('every host monitored', async () => {
      const list = await cli('onehost', ['list']);
      return hosts.every((h) =>
        new RegExp(`${h.host.replaceAll('.', '\\.')}.*\\bon\\s*$`, 'm').test(list.stdout),
      );
    });
    const show = await cli('onehost', ['show', hosts[0]?.host as string]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /STATE\s*:\s*MONITORED/);
    assert.match(show.stdout, /AGENT VERSION\s*:\s*\d+\.\d+\.\d+\+[0-9a-f]{12}/);
    assert.match(show.stdout, /FREE DISK\s*:\s*[\d.]+[MGT] of [\d.]+[MGT]/);
    assert.doesNotMatch(show.stdout, /FREE DISK\s*:\s*0M of 0M/);
    for (const h of hosts)
      assert.match(await metricsText(), new RegExp(`^onebackup_host_up\\{host="${h.host}"\\} 1$`, 'm'));
  });

  it('an increment of a disk on an SSH host moves only the chunks that changed (hashed on the host)', async () => {
    const h = hosts[1] as TestSshd;
    const disk = join(work, 'host1', 'digests.raw');
    const vm = await incrementVmOn(h.host, 'vm-digests', disk);
    const first = await backupVm(d, vm, datastore);
    // 4 MiB rewritten in the middle: one chunk.
    const fd = openSync(disk, 'r+');
    writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, 12 * MiB);
    closeSync(fd);
    const before = await agentBytes(h.host);
    assert.equal(await backupVm(d, vm, datastore), first, 'an increment of the same image');
    const crossed = (await agentBytes(h.host)) - before;
    const xml = (await cli('oneimage', ['show', first, '-x'])).stdout;
    const last = [...xml.matchAll(/<INCREMENT>([\s\S]*?)<\/INCREMENT>/g)].at(-1)?.[1] ?? '';
    assert.equal(
      Number(/<BYTES_READ>(\d+)/.exec(last)?.[1]),
      4 * MiB,
      `only the changed chunk read: ${last}`,
    );
    assert.ok(crossed < 6 * MiB, `${crossed} bytes crossed the host's connection for 4 MiB changed`);
    assert.equal((await restoreDisk0(d, first)).sha, sha256File(disk));
    // In place: the VM's own disk on its host, written through the host's agent.
    const wanted = sha256File(disk);
    writeFileSync(disk, randomBytes(32 * MiB));
    const sentBefore = await agentBytes(h.host);
    const inPlace = await cli('onevm', ['restore', String(vm), first]);
    assert.equal(inPlace.code, 0, inPlace.stderr);
    assert.equal(sha256File(disk), wanted, 'the disk on the host is the backup again');
    assert.ok(
      (await agentBytes(h.host)) - sentBefore >= 32 * MiB,
      "the disk's bytes went through the host's agent",
    );
  });

  it('into an ENCRYPTED datastore too: increments move only the changed chunks (host digests under a per-disk key, never the datastore key), and every increment restores bit for bit', async () => {
    const h = hosts[2] as TestSshd;
    const sealed = await cli(
      'onedatastore',
      ['create'],
      `NAME = "sealed"\nTYPE = "BACKUP_DS"\nENCRYPTION = "YES"\nBASE_PATH = "${join(work, 'sealed')}"\n`,
    );
    assert.equal(sealed.code, 0, sealed.stderr);
    const ds = Number(/ID: (\d+)/.exec(sealed.stdout)?.[1]);
    const disk = join(work, 'host2', 'sealed.raw');
    const vm = await incrementVmOn(h.host, 'vm-sealed', disk);
    const shas = [sha256File(disk)];
    const image = await backupVm(d, vm, ds);
    const increments = async () => {
      const xml = (await cli('oneimage', ['show', image, '-x'])).stdout;
      return [...xml.matchAll(/<INCREMENT>([\s\S]*?)<\/INCREMENT>/g)].map((m) => ({
        id: /<ID>(\d+)/.exec(m[1] as string)?.[1] as string,
        read: Number(/<BYTES_READ>(\d+)/.exec(m[1] as string)?.[1]),
      }));
    };
    // One chunk rewritten, then two: each increment reads those and no other.
    for (const changed of [[3], [0, 7]]) {
      const fd = openSync(disk, 'r+');
      for (const i of changed) writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, i * 4 * MiB);
      closeSync(fd);
      shas.push(sha256File(disk));
      const before = await agentBytes(h.host);
      assert.equal(await backupVm(d, vm, ds), image, 'an increment of the same image');
      const crossed = (await agentBytes(h.host)) - before;
      const last = (await increments()).at(-1);
      assert.equal(last?.read, changed.length * 4 * MiB, `only the changed chunks read: ${changed}`);
      assert.ok(
        crossed < (changed.length * 4 + 2) * MiB,
        `${crossed} bytes crossed the host's connection for ${changed.length * 4} MiB changed`,
      );
    }
    const all = await increments();
    assert.equal(all.length, 3);
    for (const [k, inc] of all.entries()) {
      const to = tempDir('onebackup-sealed-restore-');
      try {
        const r = await cli('oneimage', [
          'restore',
          image,
          '--increment',
          inc.id,
          '--disk-id',
          '0',
          '--to',
          to,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(
          sha256File(/DISK 0: (\S+)/.exec(r.stdout)?.[1] as string),
          shas[k],
          `increment ${inc.id}`,
        );
      } finally {
        cleanup(to);
      }
    }
    // The manifests record host digests, and no plain SHA-256 of any chunk of the disk.
    const manifests = manifestFiles(join(work, 'sealed')).map((f) => readFileSync(f, 'utf8'));
    assert.ok(manifests.length >= 3 && manifests.every((m) => m.includes('"hostDigests"')));
    const bytes = readFileSync(disk);
    for (let at = 0; at < bytes.length; at += 4 * MiB) {
      const plain = createHash('sha256')
        .update(bytes.subarray(at, at + 4 * MiB))
        .digest('hex');
      assert.ok(!manifests.some((m) => m.includes(plain)), 'no plain SHA-256 of a chunk in a manifest');
    }
    // The disk's host digest key is never logged (nor is the datastore key it comes from).
    const key = readFileSync(join(d.stateDir, 'keys', `datastore-${ds}.key`), 'utf8').trim();
    const keys = { mac: Buffer.from(key.slice(0, 64), 'hex'), enc: Buffer.from(key.slice(64), 'hex') };
    const logs = d.logs();
    for (const secret of [hostDigestKey(keys, vm, 0).toString('hex'), key.slice(0, 64), key.slice(64)])
      assert.ok(!logs.includes(secret), 'no key in the logs');
  });

  it('a host key that does not match is refused with the fix, never accepted, and not retried; with the right key the backup works', async () => {
    const wrong = join(work, 'faulty', 'wrong_known_hosts');
    writeFileSync(wrong, `[${faulty.host}]:${faulty.port} ${hosts[0]?.hostPublicKey}\n`);
    const host = await cli(
      'onehost',
      ['create'],
      faulty.hostTemplate('fs').replace(faulty.knownHosts, wrong),
    );
    assert.equal(host.code, 0, host.stderr);
    const disk = join(work, 'faulty', 'vm.raw');
    writeFileSync(disk, randomBytes(2 * MiB));
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME = "vm-faulty"\nHOST = "${faulty.host}"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      ),
    );
    const b = await cli('onevm', ['backup', String(vm), '-d', String(datastore), '--wait']);
    assert.notEqual(b.code, 0);
    assert.match(`${b.stdout}${b.stderr}`, /host key of .*127\.0\.0\.6 port \d+ does not match .*refused/);
    assert.match(`${b.stdout}${b.stderr}`, /ssh-keygen -R/);
    assert.doesNotMatch(d.logs(), new RegExp(`"vm":${vm},[^\n]*backup failed, will retry`));
    assert.doesNotMatch(faulty.log(), /Accepted publickey/, 'no login with a host key that does not match');
    // The operator checks the fingerprint and records the right key: the next backup works.
    writeFileSync(wrong, `[${faulty.host}]:${faulty.port} ${faulty.hostPublicKey}\n`);
    const ok = await cli('onevm', ['backup', String(vm), '-d', String(datastore), '--wait']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("a host's sshd killed mid-backup: retryable with the reason, nothing recorded, the retry succeeds when it is back", async () => {
    const base = join(work, 'server', 'backups');
    const disk = join(work, 'faulty', 'big.raw');
    writeFileSync(disk, randomBytes(192 * MiB));
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME = "vm-big"\nHOST = "${faulty.host}"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      ),
    );
    const job = await cli(
      'onebackupjob',
      ['create'],
      `NAME = "big"\nBACKUP_VMS = "${vm}"\nDATASTORE_ID = ${datastore}\nMAX_RETRIES = 3\nRETRY_INTERVAL = 4\n`,
    );
    assert.equal(job.code, 0, job.stderr);
    const jobId = /ID: (\d+)/.exec(job.stdout)?.[1] as string;
    const manifestsBefore = manifestFiles(base).length;
    const chunksBefore = chunkFiles(base).length;
    assert.equal((await cli('onebackupjob', ['backup', jobId])).code, 0);
    await eventually('the backup under way', async () => chunkFiles(base).length >= chunksBefore + 3);
    await faulty.stop();
    await eventually('the failed attempt', async () => d.logs().includes('backup failed, will retry'));
    await eventually('the host shown unreachable', async () => {
      const show = await cli('onehost', ['show', faulty.host]);
      return /STATE\s*:\s*ERROR/.test(show.stdout) && /ERROR\s*:.*cannot reach/.test(show.stdout);
    });
    assert.match(await metricsText(), new RegExp(`^onebackup_host_up\\{host="${faulty.host}"\\} 0$`, 'm'));
    const line = d
      .logs()
      .split('\n')
      .find((l) => l.includes('backup failed, will retry') && l.includes(`"vm":${vm}`)) as string;
    assert.match(line, /127\.0\.0\.6/, 'the reason names the host');
    assert.match(line, /(connection to \S+ port \d+ was lost|cannot reach|agent stopped)/);
    assert.equal(manifestFiles(base).length, manifestsBefore, 'no manifest of the failed backup');
    await faulty.start();
    await eventually('the retry to succeed', async () => {
      const xml = (await cli('onebackupjob', ['show', jobId, '-x'])).stdout;
      return new RegExp(`<UPDATED_VMS>\\s*<ID>${vm}</ID>`).test(xml);
    });
    const image = /<BACKUP_IDS>\s*<ID>(\d+)<\/ID>/.exec(await vmXml(vm))?.[1] as string;
    assert.equal((await restoreDisk0(d, image)).sha, sha256File(disk));
  });

  it('a host whose NAME is not an SSH address, or with a bad SSH attribute, is refused at create naming the attribute', async () => {
    const r = await cli('onehost', ['create'], 'NAME = "my host"\nVM_MAD = "fs"\nSSH_PORT = "99999"\n');
    assert.equal(r.code, 255);
    assert.match(r.stderr, /NAME="my host" is not a host name or address/);
    assert.match(r.stderr, /TRANSPORT = "local"/);
    assert.match(r.stderr, /SSH_PORT="99999" is not a TCP port/);
    const t = await cli('onehost', ['create'], 'NAME = "x1"\nTRANSPORT = "telnet"\n');
    assert.equal(t.code, 255);
    assert.match(t.stderr, /TRANSPORT="telnet" is not a transport/);
    const k = await cli(
      'onehost',
      ['create'],
      'NAME = "x2"\nSSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----"\n',
    );
    assert.equal(k.code, 255);
    assert.doesNotMatch(k.stderr, /BEGIN OPENSSH/, 'key material is never repeated');
    // The README's example of an SSH host is a valid template (nothing connects at create).
    const example = await cli('onehost', ['create', join(REPO, 'conf', 'examples', 'host-ssh.tmpl')]);
    assert.equal(example.code, 0, example.stderr);
    const exampleId = /ID: (\d+)/.exec(example.stdout)?.[1] as string;
    assert.equal((await cli('onehost', ['delete', exampleId])).code, 0);
    const help = await cli('onehost', ['create', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /NAME +the SSH address/);
    assert.match(help.stdout, /TRANSPORT +"local"/);
    assert.match(help.stdout, /SSH_KEY \(a private key file/);
  });
});
