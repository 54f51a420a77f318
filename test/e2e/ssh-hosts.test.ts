/**
 * Hypervisor hosts reached over SSH, end to end: three real sshd (test/support/sshd.ts) on
 * loopback addresses stand for three hosts, each with its own disk directory, and a fourth for
 * the backup server (an rsync datastore). A job backs up VMs on all three with
 * MAX_BACKUPS_HOST = 1 through each host's agent; every backup restores bit for bit. Faults: a
 * wrong host key (refused, never accepted, not retried), sshd of a host killed mid-backup
 * (retryable, nothing recorded, the retry succeeds when it is back), a host without a usable
 * SSH address refused at create.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcOk } from '../support/rpc.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
const CONF =
  'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 3\nMAX_BACKUPS_HOST = 1\nWORKERS = 2\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let work: string;
let d: RunningDaemon;
const hosts: TestSshd[] = [];
let server: TestSshd;
let datastore: number;
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

async function vmXml(vm: number): Promise<string> {
  const r = await cli('onevm', ['show', String(vm), '-x']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** The most backups that ran at once on one host, from the daemon's JSON log. */
function maxPerHost(logs: string): number {
  const perHost = new Map<number, number>();
  let max = 0;
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { msg: string; vm?: number; job?: number };
    if (e.vm === undefined || e.job === undefined) continue;
    const host = hostOf.get(e.vm) ?? -1;
    const delta =
      e.msg === 'backup started'
        ? 1
        : ['backup done', 'backup failed', 'backup failed, will retry', 'backup stopped'].includes(e.msg)
          ? -1
          : 0;
    perHost.set(host, (perHost.get(host) ?? 0) + delta);
    max = Math.max(max, perHost.get(host) ?? 0);
  }
  return max;
}

before(async () => {
  work = tempDir('onebackup-ssh-hosts-');
  for (const [i, addr] of ['127.0.0.2', '127.0.0.3', '127.0.0.4'].entries()) {
    mkdirSync(join(work, `host${i}`));
    hosts.push(await startSshd(join(work, `host${i}`), addr));
  }
  mkdirSync(join(work, 'server'));
  server = await startSshd(join(work, 'server'), '127.0.0.5');
  d = await startDaemon({ conf: CONF });
  for (const h of hosts) await rpcOk(d, 'one.host.allocate', h.hostTemplate('fs'));
  const ds = await cli(
    'onedatastore',
    ['create'],
    `NAME = "offbox"\nTYPE = "BACKUP_DS"\n${server.attributes(join(work, 'server', 'backups'))}\n`,
  );
  assert.equal(ds.code, 0, ds.stderr);
  datastore = Number(/ID: (\d+)/.exec(ds.stdout)?.[1]);
  // Two VMs per host, a raw and a qcow2 disk, each in that host's own directory.
  for (const [i, h] of hosts.entries()) {
    for (const format of ['raw', 'qcow2'] as const) {
      const disk = join(work, `host${i}`, `vm-${format}.img`);
      if (format === 'raw') writeFileSync(disk, randomBytes(6 * MiB));
      else makeDisk(disk, 'qcow2', '24M');
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
  for (const h of [...hosts, server]) await h?.stop();
  cleanup(work);
});

describe('hypervisor hosts over SSH', () => {
  it('a job backs up VMs on three SSH hosts into a datastore on another, one at a time per host, and each restores bit for bit', async () => {
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
    assert.equal(maxPerHost(d.logs()), 1, 'MAX_BACKUPS_HOST = 1 held on every host');
    for (const vm of vms) {
      const image = /<BACKUP_IDS>\s*<ID>(\d+)<\/ID>/.exec(await vmXml(vm))?.[1];
      assert.ok(image, `VM ${vm} has a backup`);
      const restored = await restoreDisk0(d, image);
      assert.equal(restored.code, 0, restored.stderr);
      if (diskOf.get(vm)?.endsWith('raw.img'))
        assert.equal(restored.sha, sha256File(diskOf.get(vm) as string), `VM ${vm} restores bit for bit`);
    }
    // The disks were read through each host's sshd (the agent's login), not from this machine.
    for (const h of hosts) assert.match(h.log(), /Accepted publickey/);
  });
});
