/**
 * An off-box datastore (DS_MAD = "rsync") through the real daemon, CLIs, disk images and a real
 * sshd (test/support/sshd.ts) as the backup server: create, show (no key material), backup,
 * restore bit for bit, verify, GC, import into a fresh daemon; a wrong host key refused; sshd
 * killed mid-backup (retryable, no manifest, the retry succeeds once sshd is back); a backup
 * server that fills up (a small tmpfs as BASE_PATH).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { chunkFiles, manifestFiles, tmpFiles } from '../support/datastore-faults.js';
import { rpcOk } from '../support/rpc.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
let work: string;
let sshd: TestSshd;
let d: RunningDaemon;
const cli = (name: string, args: string[]) => runCli(name, args, d);

function randomDisk(path: string, mib: number): void {
  writeFileSync(path, randomBytes(mib * MiB));
}

async function createDs(
  name: string,
  template: string,
): Promise<{ code: number; id: number; stderr: string }> {
  const file = join(work, `${name}.tmpl`);
  writeFileSync(file, `NAME = "${name}"\nTYPE = "BACKUP_DS"\n${template}\n`);
  const r = await cli('onedatastore', ['create', file]);
  return { code: r.code, stderr: r.stderr, id: Number(/ID: (\d+)/.exec(r.stdout)?.[1] ?? -1) };
}

async function eventually(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n${d.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  work = tempDir('onebackup-rsync-e2e-');
  sshd = await startSshd(work);
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
  mkdirSync(join(work, 'vms'));
  for (const [i, mib] of [
    [0, 24],
    [1, 160],
    [2, 64],
  ] as const) {
    randomDisk(join(work, 'vms', `vm${i}.raw`), mib);
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME = "vm-${i}"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${work}/vms/vm${i}.raw" ]\n`,
    );
  }
});

after(async () => {
  await d?.stop();
  await sshd?.stop();
  try {
    execFileSync('umount', [join(work, 'full')], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
  cleanup(work);
});

describe('rsync datastore end to end', () => {
  const base = () => join(work, 'server', 'backups');
  let ds = -1;

  it('onedatastore create and show: the server attributes, its capacity, no key material', async () => {
    const r = await createDs('offsite', sshd.attributes(base()));
    assert.equal(r.code, 0, r.stderr);
    ds = r.id;
    assert.ok(existsSync(join(base(), 'onebackup-datastore.json')), 'identity written on the server');
    const show = await cli('onedatastore', ['show', String(ds)]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /DS_MAD\s+: rsync/);
    assert.match(show.stdout, new RegExp(`RSYNC_HOST="${sshd.host.replace(/\./g, '\\.')}"`));
    const xml = (await cli('onedatastore', ['show', String(ds), '-x'])).stdout;
    assert.ok(Number(/<TOTAL_MB>(\d+)<\/TOTAL_MB>/.exec(xml)?.[1]) > 0, xml);
    const key = readFileSync(sshd.clientKey, 'utf8').split('\n')[1] as string;
    assert.equal(show.stdout.includes(key) || xml.includes(key) || d.logs().includes(key), false);
  });

  it('a BASE_PATH is required, and a host key that does not match is refused, naming the host and the fix', async () => {
    const noBase = await createDs('nobase', sshd.attributes('/x').replace(/BASE_PATH = .*/, ''));
    assert.equal(noBase.code, 255);
    assert.match(noBase.stderr, /BASE_PATH.*DS_MAD="rsync" keeps the backups on another machine/);
    const wrong = join(work, 'other_known_hosts');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'other')]);
    writeFileSync(wrong, `[${sshd.host}]:${sshd.port} ${readFileSync(join(work, 'other.pub'), 'utf8')}`);
    const attrs = sshd.attributes(join(work, 'server', 'other')).replace(sshd.knownHosts, wrong);
    const r = await createDs('spoofed', attrs);
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      /the host key of \S+ port \d+ does not match the one recorded for \[127\.0\.0\.1\]:\d+/,
    );
    assert.match(r.stderr, /ssh-keygen -R/);
    assert.equal(
      existsSync(join(work, 'server', 'other')),
      false,
      'nothing written through a refused connection',
    );
  });

  let image = '';
  it('backs up, restores bit for bit, verifies and collects garbage on the server', async () => {
    const b = await cli('onevm', ['backup', '0', '-d', String(ds), '--wait']);
    assert.equal(b.code, 0, b.stderr);
    image = (/backup done, image (\d+)/.exec(b.stdout) as RegExpExecArray)[1] as string;
    assert.equal(manifestFiles(base()).length, 1);
    assert.ok(chunkFiles(base()).length >= 6);
    const restored = await restoreDisk0(d, image);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.sha, sha256File(join(work, 'vms', 'vm0.raw')));
    const verify = await cli('onedatastore', ['verify', String(ds)]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^OK: \d+ chunks verified/);
    assert.equal(Number(/OK: (\d+)/.exec(verify.stdout)?.[1]), chunkFiles(base()).length);
    // A chunk no manifest names: GC removes it from the server.
    const stray = join(base(), 'chunks', 'ff', 'f'.repeat(64));
    mkdirSync(join(base(), 'chunks', 'ff'), { recursive: true });
    writeFileSync(stray, 'stray');
    const gc = await cli('onedatastore', ['gc', String(ds)]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal(existsSync(stray), false);
    assert.equal((await restoreDisk0(d, image)).sha, sha256File(join(work, 'vms', 'vm0.raw')));
  });

  it('sshd killed mid-backup: the backup fails as retryable with the reason, leaves no manifest, and the retry succeeds once sshd is back', async () => {
    const manifestsBefore = manifestFiles(base()).length;
    const chunksBefore = chunkFiles(base()).length;
    writeFileSync(
      join(work, 'job.tmpl'),
      `NAME = "offsite-job"\nBACKUP_VMS = "1"\nDATASTORE_ID = ${ds}\nMAX_RETRIES = 3\nRETRY_INTERVAL = 4\n`,
    );
    const job = await cli('onebackupjob', ['create', join(work, 'job.tmpl')]);
    assert.equal(job.code, 0, job.stderr);
    const jobId = (/ID: (\d+)/.exec(job.stdout) as RegExpExecArray)[1] as string;
    assert.equal((await cli('onebackupjob', ['backup', jobId])).code, 0);
    // Some chunks of the 160 MiB disk are on the server: the backup is under way.
    await eventually('the backup writing chunks', () => chunkFiles(base()).length >= chunksBefore + 3);
    await sshd.stop();
    await eventually('the failed attempt', () => d.logs().includes('backup failed, will retry'));
    const line = d
      .logs()
      .split('\n')
      .find((l) => l.includes('backup failed, will retry')) as string;
    assert.match(line, /datastore \d+ \(rsync\): (the connection to \S+ port \d+ was lost|cannot reach)/);
    assert.equal(manifestFiles(base()).length, manifestsBefore, 'no manifest of the failed backup');
    await sshd.start();
    await eventually('the retry to succeed', async () => {
      const xml = (await cli('onebackupjob', ['show', jobId, '-x'])).stdout;
      return /<UPDATED_VMS>\s*<ID>1<\/ID>/.test(xml);
    });
    assert.equal(manifestFiles(base()).length, manifestsBefore + 1);
    assert.deepEqual(tmpFiles(base()), [], 'no half-written file left on the server');
    const img = await cli('onevm', ['show', '1', '-x']);
    const imageId = /<BACKUP_IDS>\s*<ID>(\d+)<\/ID>/.exec(img.stdout)?.[1] as string;
    assert.equal((await restoreDisk0(d, imageId)).sha, sha256File(join(work, 'vms', 'vm1.raw')));
  });

  it('a backup server that fills up fails the backup for good, saying so, and keeps nothing of it', async (t) => {
    const full = join(work, 'full');
    mkdirSync(full);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24M', 'tmpfs', full], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`cannot mount a tmpfs here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
      return;
    }
    const small = await createDs('small', sshd.attributes(join(full, 'ds')));
    assert.equal(small.code, 0, small.stderr);
    // 64 MiB of random data: the space check expects 4:1 compression at best (16 MiB) and lets
    // it start; the writes then fill the 24 MiB.
    const b = await cli('onevm', ['backup', '2', '-d', String(small.id), '--wait']);
    assert.notEqual(b.code, 0);
    assert.match(
      `${b.stdout}${b.stderr}`,
      /no space left on the backup server's filesystem \([\d.]+ MiB free\)/,
    );
    assert.deepEqual(manifestFiles(join(full, 'ds')), []);
    await eventually(
      'the chunks of the failed backup removed',
      () => chunkFiles(join(full, 'ds')).length === 0,
    );
    assert.deepEqual(tmpFiles(join(full, 'ds')), []);
  });

  it('onedatastore import attaches the server directory to a fresh daemon, whose restores are bit for bit', async () => {
    const fresh = await startDaemon();
    try {
      const file = join(work, 'import.tmpl');
      writeFileSync(file, `NAME = "offsite"\n${sshd.attributes(base())}\n`);
      const r = await runCli('onedatastore', ['import', file], fresh);
      assert.equal(r.code, 0, r.stderr);
      const images = await runCli('oneimage', ['list', '-x'], fresh);
      const ids = [...images.stdout.matchAll(/<IMAGE>\s*<ID>(\d+)<\/ID>/g)].map((m) => m[1] as string);
      assert.equal(ids.length, 2, images.stdout);
      const shas = new Set<string | undefined>();
      for (const id of ids) shas.add((await restoreDisk0(fresh, id)).sha);
      assert.deepEqual(
        shas,
        new Set([sha256File(join(work, 'vms', 'vm0.raw')), sha256File(join(work, 'vms', 'vm1.raw'))]),
      );
    } finally {
      await fresh.stop();
      cleanup(fresh.stateDir);
    }
    assert.ok(readdirSync(base()).includes('chunks'));
  });
});
