/**
 * Issue 9 item 2 with the real daemon: recording a VM backup of a job (image or increment,
 * KEEP_LAST, the VM's chain pointers, its set, its task, the run) is one transaction. A job of
 * several VMs runs FULL then INCREMENT rounds, each triggered by `onebackupjob backup`; the daemon
 * is killed with SIGKILL at many moments of each run (a VM dispatched, halfway through a backup,
 * a manifest written, a backup recorded, a VM UPDATED, a task done, random delays) and restarted
 * on the same state directory. Every snapshot of the store, polled continuously, right after each kill and
 * after each restart, must hold: UPDATED <=> task done <=> one backup recorded by the run, never
 * two, pointers and retention with it; every run ends done; every backup restores bit for bit.
 *
 * The datastore runs at the default SYNC_LEVEL, "filesystem" (issue 16); power cuts, which lose
 * what a kill -9 keeps, are test/e2e/power-cut.test.ts.
 *
 * Reproduce a failure with the seed it prints: CRASH_SEED=<n> node test/run.mjs record-crash
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { prng } from '../support/disks.js';
import { rpcOk } from '../support/rpc.js';
import {
  type Baseline,
  baselineOf,
  checkRun,
  type RunExpectation,
  RunReader,
  type RunSnapshot,
  recordedSince,
} from '../support/run-snapshot.js';

const MiB = 1024 * 1024;
const VMS = [0, 1, 2, 3, 4, 5];
const DS = 100;
const CONF =
  'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 2\nMAX_BACKUPS_HOST = 2\nWORKERS = 1\nSHUTDOWN_GRACE = 0\n';
/** The rounds: mode and KEEP_LAST of the job (FULL KEEP_LAST=1 drops the previous image inside the record). */
const ROUNDS: readonly { mode: 'FULL' | 'INCREMENT'; keepLast: number }[] = [
  { mode: 'FULL', keepLast: 1 },
  { mode: 'FULL', keepLast: 1 },
  { mode: 'INCREMENT', keepLast: 2 },
  { mode: 'INCREMENT', keepLast: 2 },
  { mode: 'INCREMENT', keepLast: 2 },
];
const KILLS_PER_ROUND = 6;
const RUN_DEADLINE_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A moment of the run to kill at: true once reached, compared with the state when the watch began. */
type Moment = {
  name: string;
  reached: (now: RunSnapshot, manifests: number) => boolean | Promise<boolean>;
};

function moments(
  d: RunningDaemon,
  first: RunSnapshot,
  firstManifests: number,
  b: Baseline,
  delayMs: number,
): Moment[] {
  const count = (f: (vm: number) => boolean) => VMS.filter(f).length;
  const attempts = (s: RunSnapshot) => VMS.reduce((n, vm) => n + (s.tasks.get(vm)?.attempt ?? 0), 0);
  const recorded = (s: RunSnapshot) => VMS.reduce((n, vm) => n + recordedSince(b, s, vm).length, 0);
  const updated = (s: RunSnapshot) => count((vm) => s.sets.get(vm) === 'UPDATED');
  const done = (s: RunSnapshot) => count((vm) => s.tasks.get(vm)?.status === 'done');
  const since = Date.now();
  return [
    { name: 'backup recorded', reached: (s) => recorded(s) > recorded(first) },
    { name: 'VM dispatched', reached: (s) => attempts(s) > attempts(first) },
    { name: 'VM turned UPDATED', reached: (s) => updated(s) > updated(first) },
    { name: 'manifest written', reached: (_, m) => m > firstManifests },
    { name: `after ${delayMs} ms`, reached: () => Date.now() - since >= delayMs },
    { name: 'task done', reached: (s) => done(s) > done(first) },
    { name: 'halfway through a backup', reached: (s) => halfway(d, s) },
  ];
}

/** A VM's backup has read some of its bytes but not all (the engine's progress, through the API). */
async function halfway(d: RunningDaemon, s: RunSnapshot): Promise<boolean> {
  for (const vm of VMS) {
    if (s.tasks.get(vm)?.status !== 'executing') continue;
    const xml = String(await rpcOk(d, 'one.vm.info', vm, false));
    const done = Number(/<BYTES_DONE>(\d+)</.exec(xml)?.[1] ?? 0);
    const total = Number(/<BYTES_TOTAL>(\d+)</.exec(xml)?.[1] ?? 0);
    if (done > 0 && done < total) return true;
  }
  return false;
}

function countManifests(dir: string): number {
  let n = 0;
  for (const vm of VMS) {
    try {
      n += readdirSync(join(dir, 'backups', String(vm))).filter((f) => f.endsWith('.json')).length;
    } catch {
      // No backup of this VM yet.
    }
  }
  return n;
}

describe('kill -9 while a job run records its backups (issue 9, one transaction per transition)', () => {
  const seed = Number(process.env['CRASH_SEED'] ?? Date.now() % 1_000_000);
  const random = prng(seed);
  let dir: string;
  let d: RunningDaemon | undefined;
  let reader: RunReader | undefined;
  let jobId = -1;
  const disks = new Map<number, string>();

  before(async () => {
    dir = tempDir('onebackup-crash-');
    const first = await startDaemon({ stateDir: dir, conf: CONF });
    d = first;
    await rpcOk(first, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\nVM_MAD="fs"\n');
    await rpcOk(first, 'one.datastore.allocate', 'NAME="ds"\nTYPE="BACKUP_DS"\nDS_MAD="local"\n');
    // The default SYNC_LEVEL (issue 16): chunks unflushed until one flush before each manifest.
    const show = await runCli('onedatastore', ['show', String(DS)], first);
    assert.match(show.stdout, /SYNC LEVEL\s+: filesystem\s*\n/);
    mkdirSync(join(dir, 'vms'));
    for (const vm of VMS) {
      // 24 MiB: 16 of random data in 2 MiB runs, holes between them.
      const path = join(dir, 'vms', `vm${vm}.raw`);
      const fd = openSync(path, 'w');
      for (let k = 0; k < 8; k++) writeSync(fd, randomBytes(2 * MiB), 0, 2 * MiB, k * 3 * MiB);
      closeSync(fd);
      truncateSync(path, 24 * MiB);
      disks.set(vm, path);
      const id: number = Number(
        await rpcOk(
          first,
          'one.vm.allocate',
          `NAME="vm${vm}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${path}"]\n`,
        ),
      );
      assert.equal(id, vm);
    }
    const job = await runCli('onebackupjob', ['create'], first, {
      input: `NAME="crash"\nBACKUP_VMS="${VMS.join(',')}"\nDATASTORE_ID=${DS}\nMODE="FULL"\nKEEP_LAST="1"\nMAX_RETRIES="1000"\nEXECUTION="PARALLEL"\n`,
    });
    assert.equal(job.code, 0, job.stderr);
    jobId = Number(/ID: (\d+)/.exec(job.stdout)?.[1]);
    reader = new RunReader(join(dir, 'onebackup.db'));
  });

  after(async () => {
    reader?.close();
    await d?.stop('SIGKILL');
    if (dir) cleanup(dir);
  });

  it('leaves every backup recorded whole or not at all, once per VM and run, and restorable', async () => {
    const started = Date.now();
    const datastoreDir = join(dir, 'datastores', String(DS));
    const story: string[] = [`seed ${seed}`];
    let kills = 0;
    for (const [round, { mode, keepLast }] of ROUNDS.entries()) {
      const daemon = () => d as RunningDaemon;
      const db = reader as RunReader;
      if (round > 0) {
        // New data in every disk, then the round's mode and retention.
        for (const path of disks.values()) {
          const fd = openSync(path, 'r+');
          writeSync(fd, randomBytes(2 * MiB), 0, 2 * MiB, Math.floor(random() * 22) * MiB);
          closeSync(fd);
        }
        const tmpl = join(dir, 'update.tmpl');
        writeFileSync(tmpl, `MODE="${mode}"\nKEEP_LAST="${keepLast}"\n`);
        const u = await runCli('onebackupjob', ['update', String(jobId), tmpl, '-a'], daemon());
        assert.equal(u.code, 0, u.stderr);
      }
      const expected = new Map([...disks].map(([vm, path]) => [vm, sha(path)]));
      const e: RunExpectation = { vms: VMS, mode, keepLast, datastoreDir, datastoreId: DS };
      const b = baselineOf(db.snapshot(jobId, 0, VMS));
      const r = await runCli('onebackupjob', ['backup', String(jobId)], daemon());
      assert.equal(r.code, 0, r.stderr);
      const runId = db.latestRun(jobId);
      assert.equal(runId, round + 1);
      let updated = new Set<number>();
      const check = (where: string, frozen = false) => {
        const snap = db.snapshot(jobId, runId, VMS);
        updated = checkRun(`${story.join(' | ')} | ${where}`, e, b, snap, updated, frozen);
      };
      check('after the trigger');
      /** Polls every snapshot until the moment comes (true) or the run ends first (false). */
      const waitFor = async (m: Moment): Promise<boolean> => {
        const deadline = Date.now() + RUN_DEADLINE_MS;
        for (;;) {
          const s = db.snapshot(jobId, runId, VMS);
          updated = checkRun(`${story.join(' | ')} | waiting for "${m.name}"`, e, b, s, updated);
          if (await m.reached(s, countManifests(datastoreDir))) return true;
          if (s.run?.endMs !== 0) return false;
          assert.ok(
            Date.now() < deadline,
            `${story.join(' | ')}: run ${runId} did not end\n${daemon().logs()}`,
          );
          await sleep(2);
        }
      };
      for (let k = 0; k < KILLS_PER_ROUND; k++) {
        const all = moments(
          daemon(),
          db.snapshot(jobId, runId, VMS),
          countManifests(datastoreDir),
          b,
          Math.floor(random() * 500),
        );
        const moment = all[(round * KILLS_PER_ROUND + k) % all.length] as Moment;
        if (!(await waitFor(moment))) break;
        assert.equal(await daemon().stop('SIGKILL'), null);
        kills++;
        story.push(`round ${round + 1} (${mode}) kill ${kills} at "${moment.name}"`);
        check('after the kill', true);
        d = await startDaemon({ stateDir: dir, conf: CONF });
        check('after the restart');
      }
      assert.equal(await waitFor({ name: 'run ended', reached: () => false }), false);
      const s = db.snapshot(jobId, runId, VMS);
      checkRun(`${story.join(' | ')} | end of round ${round + 1}`, e, b, s, updated);
      assert.equal(s.run?.result, 'done');
      for (const vm of VMS) {
        assert.equal(s.sets.get(vm), 'UPDATED');
        assert.equal(s.tasks.get(vm)?.status, 'done');
        assert.equal(recordedSince(b, s, vm).length, 1);
      }
      // Each backup this run recorded restores bit for bit.
      const restores = join(dir, `restores-${round}`);
      mkdirSync(restores);
      await Promise.all(
        VMS.map(async (vm) => {
          const row = recordedSince(b, s, vm)[0];
          assert.ok(row);
          const args = ['restore', String(row.imageId), '--increment', String(row.incId), '--disk-id', '0'];
          const to = join(restores, `vm${vm}`);
          mkdirSync(to);
          const out = await runCli('oneimage', [...args, '--to', to], daemon());
          assert.equal(out.code, 0, out.stderr);
          const file = /DISK 0: (\S+)/.exec(out.stdout)?.[1];
          assert.ok(file, out.stdout);
          assert.equal(
            sha(file),
            expected.get(vm),
            `VM ${vm} image ${row.imageId} increment ${row.incId}: ${story.join('; ')}`,
          );
        }),
      );
      rmSync(restores, { recursive: true, force: true });
    }
    const verify = await runCli('onedatastore', ['verify', String(DS)], d as RunningDaemon);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^OK: \d+ chunks verified\n$/);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`record-crash: ${kills} kills in ${ROUNDS.length} runs, ${seconds} s; ${story.join('; ')}`);
    // Not a vacuous run: kills in every FULL round, and right after a commit at least once.
    assert.ok(kills >= ROUNDS.length, `only ${kills} kills: ${story.join('; ')}`);
    for (const m of ['backup recorded', 'VM turned UPDATED'])
      assert.ok(
        story.some((line) => line.endsWith(`"${m}"`)),
        `no kill at "${m}": ${story.join('; ')}`,
      );
  });
});
