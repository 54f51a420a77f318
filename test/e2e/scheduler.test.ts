/**
 * The scheduler end to end (issue 4): the real daemon with the fs driver, two jobs of different
 * priorities and modes on three hosts, MAX_BACKUPS=2 and MAX_BACKUPS_HOST=1. The dispatch order
 * comes from the run records, the limits from the daemon's start/done events; then a SIGKILL in
 * the middle of a run, a restart, and every VM ends UPDATED with a restorable backup.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { backupConcurrency as concurrency } from '../support/log-replay.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const CONF =
  'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 2\nMAX_BACKUPS_HOST = 1\nWORKERS = 1\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

interface Task {
  VM_ID: string;
  HOST: string;
  STATUS: string;
  ATTEMPT: string;
  ERROR: string;
}
interface Run {
  ID: string;
  TRIGGER: string;
  RESULT: string;
  END: string;
  TASKS: Task[];
}

let dir: string;
let d: RunningDaemon;
const disks = new Map<number, string>();

async function runs(job: number): Promise<Run[]> {
  const r = await runCli('onebackupjob', ['runs', String(job), '-j'], d);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { RUNS: Run[] }).RUNS;
}

async function waitRunsEnded(jobs: number[], count: number): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const all = await Promise.all(jobs.map((j) => runs(j)));
    if (all.every((r) => r.length >= count && r.every((x) => x.END !== '0'))) return;
    await sleep(100);
  }
  assert.fail(`runs did not end: ${JSON.stringify(await Promise.all(jobs.map((j) => runs(j))))}`);
}

describe('scheduler end to end: priorities, modes, limits, SIGKILL and restart', () => {
  const hostOf = new Map<number, number>();
  let jobA = -1;
  let jobB = -1;

  before(async () => {
    dir = tempDir();
    d = await startDaemon({ stateDir: dir, conf: CONF });
    for (const h of ['node1', 'node2', 'node3'])
      await rpcOk(d, 'one.host.allocate', `NAME="${h}"\nTRANSPORT="local"\nVM_MAD="fs"\n`);
    await rpcOk(
      d,
      'one.datastore.allocate',
      'NAME="ds"\nTYPE="BACKUP_DS"\nCOMPRESSION="gzip"\nCOMPRESSION_LEVEL="9"\n',
    );
    mkdirSync(join(dir, 'vms'));
    for (let i = 0; i < 6; i++) {
      const path = join(dir, 'vms', `vm${i}.raw`);
      const fd = openSync(path, 'w');
      for (let k = 0; k < 6; k++) writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, k * 4 * MiB);
      closeSync(fd);
      disks.set(i, path);
      const host = i % 3;
      const id = Number(
        await rpcOk(
          d,
          'one.vm.allocate',
          `NAME="vm${i}"\nHOST="node${host + 1}"\nSTATE="POWEROFF"\nDISK=[SOURCE="${path}"]\n`,
        ),
      );
      assert.equal(id, i);
      hostOf.set(id, host);
    }
  });

  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('dispatches by priority with backfill, within MAX_BACKUPS and MAX_BACKUPS_HOST, SEQUENTIAL one at a time', async () => {
    // Far enough ahead that both jobs exist before it, on a slow machine too.
    const when = Math.floor(Date.now() / 1000) + 8;
    const a = await runCli('onebackupjob', ['create'], d, {
      input: `NAME="A"\nPRIORITY=40\nEXECUTION="SEQUENTIAL"\nBACKUP_VMS="0,1,2"\nDATASTORE_ID=100\nSCHED_ACTION=[TIME="${when}"]\n`,
    });
    assert.equal(a.code, 0, a.stderr);
    jobA = Number(/ID: (\d+)/.exec(a.stdout)?.[1]);
    const b = await runCli('onebackupjob', ['create'], d, {
      input: `NAME="B"\nPRIORITY=20\nEXECUTION="PARALLEL"\nBACKUP_VMS="3,4,5"\nDATASTORE_ID=100\nSCHED_ACTION=[TIME="${when}"]\n`,
    });
    assert.equal(b.code, 0, b.stderr);
    jobB = Number(/ID: (\d+)/.exec(b.stdout)?.[1]);
    // While both wait for their schedule, nothing runs.
    if (Date.now() < (when - 1) * 1000) assert.deepEqual(await runs(jobA), []);
    await waitRunsEnded([jobA, jobB], 1);
    const [runA] = await runs(jobA);
    const [runB] = await runs(jobB);
    assert.equal(runA?.TRIGGER, 'schedule');
    assert.equal(runA?.RESULT, 'done');
    assert.equal(runB?.RESULT, 'done');
    const c = concurrency(d.logs(), hostOf);
    // Job A (priority 40) first: VM 0 on node1; A is SEQUENTIAL, so the second slot is backfilled
    // by job B, whose VM 3 is on the full node1: VM 4 on node2 takes it.
    assert.deepEqual(c.starts.slice(0, 2), [0, 4]);
    assert.equal(c.maxGlobal, 2);
    assert.equal(c.maxHost, 1);
    assert.equal(c.maxJob.get(jobA), 1);
    // Every VM started once; A's first is the first of its BACKUP_VMS (later ones may be
    // reordered by the host limit: a full host skips to VMs on other hosts).
    assert.deepEqual([...c.starts].sort(), [0, 1, 2, 3, 4, 5]);
    const show = await runCli('onebackupjob', ['show', String(jobA), '-x'], d);
    assert.match(show.stdout, /<UPDATED_VMS>\s*<ID>0<\/ID>\s*<ID>1<\/ID>\s*<ID>2<\/ID>\s*<\/UPDATED_VMS>/);
  });

  it('after kill -9 mid-run, the restart requeues the interrupted VM and every VM ends UPDATED and restorable', async () => {
    assert.equal((await runCli('onebackupjob', ['backup', `${jobA},${jobB}`], d)).code, 0);
    // Kill as soon as a backup is seen running (each takes about a second here).
    for (let i = 0; ; i++) {
      const xml = String(await rpcOk(d, 'one.backupjobpool.info', -2, -1, -1));
      if (/<BACKING_UP_VMS><ID>/.test(xml)) break;
      assert.ok(i < 400, 'no backup started');
      await sleep(10);
    }
    assert.equal(await d.stop('SIGKILL'), null);
    d = await startDaemon({ stateDir: dir, conf: CONF });
    await waitRunsEnded([jobA, jobB], 2);
    const interrupted: Task[] = [];
    for (const job of [jobA, jobB]) {
      const [latest] = await runs(job);
      assert.equal(latest?.RESULT, 'done', JSON.stringify(latest));
      for (const t of latest?.TASKS ?? []) {
        assert.equal(t.STATUS, 'done');
        if (Number(t.ATTEMPT) > 1) interrupted.push(t);
      }
      const xml = String(await rpcOk(d, 'one.backupjob.info', job, false));
      assert.match(
        xml,
        /<OUTDATED_VMS><\/OUTDATED_VMS><BACKING_UP_VMS><\/BACKING_UP_VMS><ERROR_VMS><\/ERROR_VMS>/,
      );
    }
    assert.ok(
      interrupted.length >= 1,
      `the killed backup was attempted again: ${JSON.stringify(await runs(jobB))} ${d.logs()}`,
    );
    assert.ok(d.logs().includes('backups interrupted by a stop were requeued'));
    // The last image of VM 3 restores bit for bit.
    const pool = String(await rpcOk(d, 'one.imagepool.info', -2, -1, -1));
    const images = pool
      .split('<IMAGE>')
      .filter((block) => block.includes('<NAME>3 '))
      .map((block) => Number(/^<ID>(\d+)<\/ID>/.exec(block)?.[1]));
    const last = Math.max(...images);
    const r = await runCli('oneimage', ['restore', String(last)], d);
    assert.equal(r.code, 0, r.stderr);
    const restored = /DISK 0: (\S+)/.exec(r.stdout)?.[1] as string;
    assert.equal(sha(restored), sha(disks.get(3) as string));
  });

  it('SIGTERM: dispatching stops, running backups get SHUTDOWN_GRACE, then are cancelled and requeued', async () => {
    const runsBefore = (await runs(jobB)).length;
    await d.stop();
    d = await startDaemon({ stateDir: dir, conf: `${CONF}SHUTDOWN_GRACE = 0\n` });
    assert.equal((await runCli('onebackupjob', ['backup', String(jobB)], d)).code, 0);
    for (let i = 0; ; i++) {
      const xml = String(await rpcOk(d, 'one.backupjob.info', jobB, false));
      if (/<BACKING_UP_VMS><ID>/.test(xml)) break;
      assert.ok(i < 400, 'no backup started');
      await sleep(10);
    }
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.match(d.logs(), /"msg":"backup failed, will retry".*"error":"onebackupd is stopping"/);
    d = await startDaemon({ stateDir: dir, conf: CONF });
    await waitRunsEnded([jobB], runsBefore + 1);
    const [latest] = await runs(jobB);
    assert.equal(latest?.RESULT, 'done');
    assert.ok(latest?.TASKS.some((t) => Number(t.ATTEMPT) === 2));
  });
});
