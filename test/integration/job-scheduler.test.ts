/**
 * The scheduler loop on a real SQLite store with the real job service and a manual clock; the
 * backup engine is replaced by an executor the test finishes by hand, so retries, cancel, pause,
 * exclude, crash recovery and schedules are checked step by step (the real engine runs in
 * test/e2e/scheduler.test.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { runsXml } from '../../core/docs/runs.js';
import { datastoreAccess } from '../../core/engine/datastore-access.js';
import type { Logger } from '../../core/log.js';
import { ONEADMIN_GID, ONEADMIN_UID } from '../../core/model.js';
import type { Requester } from '../../core/permissions.js';
import { JobScheduler } from '../../core/scheduler/job-scheduler.js';
import type { BackupExecutor } from '../../core/scheduler/scheduler-deps.js';
import type { BackupOptions, BackupResult } from '../../core/scheduler/vm-operations.js';
import { forwardingScheduler } from '../../core/scheduler-port.js';
import { BackupJobService } from '../../core/services/backupjobs.js';
import type { ServiceDeps } from '../../core/services/context.js';
import { DatastoreService } from '../../core/services/datastores.js';
import { HostService } from '../../core/services/hosts.js';
import { UserService } from '../../core/services/users.js';
import { VmService } from '../../core/services/vms.js';
import type { Store } from '../../core/store/db.js';
import { fileKeyStore } from '../../drivers/datastore/keys.js';
import { DATASTORE_DRIVERS } from '../../drivers/datastore/registry.js';
import { HYPERVISOR_DRIVERS, vmDiscovery } from '../../drivers/hypervisor/registry.js';
import { PermanentDriverError } from '../../drivers/hypervisor/types.js';
import { hypervisorHosts } from '../../drivers/remote/host-drivers.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { ManualClock } from '../support/manual-clock.js';
import { passed, until } from '../support/scheduler-wait.js';
import { openTestStore } from '../support/store.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const admin: Requester = {
  uid: ONEADMIN_UID,
  gid: ONEADMIN_GID,
  uname: 'oneadmin',
  gname: 'oneadmin',
  isAdmin: true,
};
const quiet: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

interface Call {
  readonly vmId: number;
  readonly options: BackupOptions;
  succeed(): void;
  fail(err: Error): void;
}

/**
 * An engine whose backups end when the test says; an abort rejects at once, as the real one does.
 * A success commits the job's part of the record (options.alsoRecord) in one transaction, as the
 * real engine does with the image.
 */
class HandExecutor implements BackupExecutor {
  readonly calls: Call[] = [];
  constructor(private readonly store: Store) {}
  backupVm(vmId: number, _ds: number, options: BackupOptions): Promise<BackupResult> {
    return new Promise((resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(options.signal?.reason));
      const result = {
        imageId: vmId,
        incrementId: 0,
        manifest: {
          stats: { bytesRead: 1000, bytesStored: 10, bytesDeduplicated: 0, bytesZero: 0, durationMs: 1 },
        },
      } as unknown as BackupResult;
      const succeed = () => {
        const also = options.alsoRecord;
        const recorded = also
          ? this.store.tx((trx) => also(trx, { bytesDone: 1000, bytesTotal: 1000 }))
          : Promise.resolve();
        recorded.then(() => resolve(result), reject);
      };
      this.calls.push({ vmId, options, succeed, fail: reject });
    });
  }
  progress(): undefined {
    return undefined;
  }
  restore(): never {
    throw new Error('no restores in this test');
  }
  verify(): never {
    throw new Error('no verify in this test');
  }
  gc(): never {
    throw new Error('no gc in this test');
  }
  scheduledVerify(): never {
    throw new Error('no scheduled verify in this test');
  }
  running(): number[] {
    return this.calls.map((c) => c.vmId);
  }
}

interface World {
  store: Store;
  clock: ManualClock;
  jobs: BackupJobService;
  exec: HandExecutor;
  scheduler: JobScheduler;
  restart(): Promise<void>;
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) cleanup(d);
});

/** The world of the test that runs; its scheduler and store are closed after it, pass or fail. */
let current: World | undefined;
afterEach(async () => {
  const w = current;
  current = undefined;
  if (!w) return;
  try {
    await w.scheduler.stop(0);
  } finally {
    await w.store.close();
  }
});

/** Hosts node1..3, VMs 0..5 (VM i on host i % 3), datastore 100; the scheduler started. */
async function world(limits = { maxBackups: 2, maxBackupsHost: 0 }): Promise<World> {
  const dir = tempDir();
  dirs.push(dir);
  const store = await openTestStore(join(dir, 'state.db'));
  const clock = new ManualClock(T0);
  let scheduler: JobScheduler | undefined;
  const port = forwardingScheduler(() => scheduler);
  const deps: ServiceDeps = {
    store,
    clock,
    timeZone: 'UTC',
    scheduler: port,
    inspectDisk: async () => ({ format: 'raw', virtualSize: 1 << 20 }),
    discovery: vmDiscovery(hypervisorHosts(HYPERVISOR_DRIVERS)),
    hypervisorDrivers: ['fs'],
    datastoreDrivers: ['local'],
    defaultDatastoreBase: join(dir, 'ds'),
    createDatastoreKey: async () => undefined,
    datastoreAccess: datastoreAccess(DATASTORE_DRIVERS, fileKeyStore(dir)),
    dropManifests: async () => undefined,
  };
  await new UserService(deps).bootstrap();
  for (const h of ['node1', 'node2', 'node3'])
    await new HostService(deps).allocate(admin, `NAME="${h}"\nTRANSPORT="local"\n`);
  await new DatastoreService(deps).allocate(admin, 'NAME="ds"\nTYPE="BACKUP_DS"\n');
  for (let i = 0; i < 6; i++) {
    await new VmService(deps).allocate(
      admin,
      `NAME="vm${i}"\nHOST="node${(i % 3) + 1}"\nDISK=[SOURCE="/d/${i}"]\n`,
    );
  }
  const jobs = new BackupJobService(deps);
  const w: World = {
    store,
    clock,
    jobs,
    exec: new HandExecutor(store),
    scheduler: undefined as unknown as JobScheduler,
    restart: async () => {
      // A crash: the old scheduler is dropped with its backups unfinished, a new one starts.
      w.exec = new HandExecutor(store);
      scheduler = make();
      w.scheduler = scheduler;
      await scheduler.start();
    },
  };
  const make = () =>
    new JobScheduler({
      daemon: { id: 'test-daemon', name: 'onebackupd test' },
      store,
      clock,
      log: quiet,
      executor: {
        backupVm: (vm, ds, o) => w.exec.backupVm(vm, ds, o),
        progress: () => undefined,
        restore: () => w.exec.restore(),
        verify: () => w.exec.verify(),
        gc: () => w.exec.gc(),
        scheduledVerify: () => w.exec.scheduledVerify(),
      },
      limits,
      gates: { maxRestores: 1, maxMaintenance: 1 },
      timeZone: 'UTC',
      ctime: (s) => new Date(s * 1000).toUTCString(),
      execute: (trx, row, trigger) => jobs.execute(trx, row, trigger),
    });
  current = w;
  scheduler = make();
  w.scheduler = scheduler;
  await scheduler.start();
  return w;
}

async function sets(
  w: World,
  job: number,
): Promise<Record<'OUTDATED' | 'ONGOING' | 'UPDATED' | 'ERROR', number[]>> {
  const v = await w.jobs.info(admin, job);
  return {
    OUTDATED: [...v.sets.OUTDATED],
    ONGOING: [...v.sets.ONGOING],
    UPDATED: [...v.sets.UPDATED],
    ERROR: [...v.sets.ERROR],
  };
}

async function vmRow(w: World, job: number, vm: number) {
  return w.store.db
    .selectFrom('job_vms')
    .selectAll()
    .where('job_id', '=', job)
    .where('vm_id', '=', vm)
    .executeTakeFirstOrThrow();
}

function call(w: World, vm: number): Call {
  const c = [...w.exec.calls].reverse().find((x) => x.vmId === vm);
  assert.ok(c, `VM ${vm} was started`);
  return c;
}

describe('the job scheduler on a real store', () => {
  it('retries a retryable failure after RETRY_INTERVAL, then lands in ERROR with the attempt count', async () => {
    const w = await world();
    const job = await w.jobs.allocate(
      admin,
      'NAME="r"\nBACKUP_VMS="0"\nDATASTORE_ID=100\nMAX_RETRIES=1\nRETRY_INTERVAL=60\n',
    );
    await w.jobs.backup(admin, job);
    await until('VM 0 started', () => w.exec.calls.length === 1);
    call(w, 0).fail(new Error('read error on /d/0'));
    // Reads do not queue behind the scheduler's transactions: the committed row can be seen a
    // moment before the scheduler, resuming after its commit, records why the VM waits.
    await until(
      'VM 0 back in OUTDATED, waiting for its retry',
      async () => (await sets(w, job)).OUTDATED.includes(0) && w.scheduler.waiting(job).length > 0,
    );
    const row = await vmRow(w, job, 0);
    assert.equal(row.attempt, 1);
    assert.equal(row.not_before, T0 / 1000 + 60);
    const waiting = w.scheduler.waiting(job);
    assert.deepEqual(
      waiting.map((x) => x.reason),
      ['retry at 2026-01-05T09:01:00Z'],
    );
    w.clock.advance(59_000);
    await passed(w.scheduler);
    assert.equal(w.exec.calls.length, 1, 'not retried before RETRY_INTERVAL');
    w.clock.advance(1_100);
    await until('VM 0 retried', () => w.exec.calls.length === 2);
    assert.equal((await vmRow(w, job, 0)).attempt, 2);
    call(w, 0).fail(new Error('read error on /d/0'));
    await until('VM 0 in ERROR', async () => (await sets(w, job)).ERROR.includes(0));
    assert.equal((await vmRow(w, job, 0)).error, 'read error on /d/0 (attempt 2 of 2)');
    const runs = await w.jobs.runs(admin, job);
    assert.equal(runs.runs[0]?.run.result, 'failed');
    assert.equal(runs.runs[0]?.tasks[0]?.status, 'failed');
    assert.equal(runs.runs[0]?.tasks[0]?.attempt, 2);
    const template = (await w.jobs.info(admin, job)).template;
    assert.ok(
      template.some(
        (a) => a.name === 'ERROR' && a.kind === 'single' && a.value.includes('[backup] VM 0: read error'),
      ),
    );
    // retry (the command) starts a new run for the VMs in ERROR.
    await w.jobs.retry(admin, job);
    await until('VM 0 started again', () => w.exec.calls.length === 3);
    call(w, 0).succeed();
    await until('VM 0 UPDATED', async () => (await sets(w, job)).UPDATED.includes(0));
    const after = await w.jobs.runs(admin, job);
    assert.deepEqual(
      after.runs.map((r) => [r.run.run_id, r.run.trigger, r.run.result]),
      [
        [2, 'retry', 'done'],
        [1, 'manual', 'failed'],
      ],
    );
    // Deleting the job deletes its runs, tasks and task logs.
    await w.store.db
      .insertInto('task_logs')
      .values({ job_id: job, run_id: 2, vm_id: 0, time_ms: T0, line: 'msg=x' })
      .execute();
    await w.jobs.delete(admin, job);
    for (const table of ['job_runs', 'run_tasks', 'task_logs'] as const) {
      const left = await w.store.db.selectFrom(table).select('job_id').where('job_id', '=', job).execute();
      assert.deepEqual(left, [], table);
    }
  });

  it('a permanent failure goes to ERROR at once, without a retry', async () => {
    const w = await world();
    const job = await w.jobs.allocate(admin, 'NAME="p"\nBACKUP_VMS="1"\nDATASTORE_ID=100\n');
    await w.jobs.backup(admin, job);
    await until('VM 1 started', () => w.exec.calls.length === 1);
    call(w, 1).fail(new PermanentDriverError('disk /d/1 does not exist'));
    await until('VM 1 in ERROR', async () => (await sets(w, job)).ERROR.includes(1));
    assert.equal((await vmRow(w, job, 1)).error, 'disk /d/1 does not exist');
    w.clock.advance(3600_000);
    await passed(w.scheduler);
    assert.equal(w.exec.calls.length, 1);
  });

  it('cancel aborts the running backups: ONGOING to ERROR, OUTDATED dropped, the run cancelled', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    const job = await w.jobs.allocate(admin, 'NAME="c"\nBACKUP_VMS="0,1"\nDATASTORE_ID=100\n');
    await w.jobs.backup(admin, job);
    await until('VM 0 started', () => w.exec.calls.length === 1);
    const aborted = await w.jobs.cancel(admin, job);
    assert.deepEqual(aborted, [0]);
    assert.equal(call(w, 0).options.signal?.aborted, true);
    await until('nothing running', () => w.scheduler.runningCount === 0);
    assert.deepEqual(await sets(w, job), { OUTDATED: [], ONGOING: [], UPDATED: [], ERROR: [0] });
    const [run] = (await w.jobs.runs(admin, job)).runs;
    assert.equal(run?.run.result, 'cancelled');
    assert.deepEqual(
      run?.tasks.map((t) => [t.vm_id, t.status]),
      [
        [0, 'failed'],
        [1, 'excluded'],
      ],
    );
    assert.equal(w.exec.calls.length, 1, 'VM 1 never started');
  });

  it('pause holds queued VMs (onhold), exclude leaves one out, resume releases the rest', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    const job = await w.jobs.allocate(
      admin,
      'NAME="h"\nBACKUP_VMS="0,1,2"\nEXECUTION="PARALLEL"\nDATASTORE_ID=100\n',
    );
    await w.jobs.backup(admin, job);
    await until('VM 0 started', () => w.exec.calls.length === 1);
    await w.jobs.pause(admin, job, true);
    call(w, 0).succeed();
    await until('VM 0 UPDATED', async () => (await sets(w, job)).UPDATED.includes(0));
    await passed(w.scheduler);
    assert.equal(w.exec.calls.length, 1, 'a paused job starts nothing');
    const xml = runsXml(job, await w.jobs.runs(admin, job), w.clock.now());
    assert.match(xml, /<VM_ID>1<\/VM_ID><HOST>\d+<\/HOST><STATUS>onhold<\/STATUS>/);
    assert.match(xml, /<REASON>paused<\/REASON>/);
    await assert.rejects(
      w.jobs.exclude(admin, job, 0),
      /Cannot exclude VM 0 from backup job \d+: .* it is UPDATED/,
    );
    await w.jobs.exclude(admin, job, 1);
    await w.jobs.pause(admin, job, false);
    await until('VM 2 started', () => w.exec.running().includes(2));
    assert.ok(!w.exec.running().includes(1));
    call(w, 2).succeed();
    await until('run ended', async () => (await w.jobs.runs(admin, job)).runs[0]?.run.result === 'done');
    const [run] = (await w.jobs.runs(admin, job)).runs;
    assert.deepEqual(
      run?.tasks.map((t) => [t.vm_id, t.status]),
      [
        [0, 'done'],
        [2, 'done'],
        [1, 'excluded'],
      ],
    );
  });

  it('after a crash, ONGOING VMs are requeued (an attempt counted) or ERROR "interrupted" when out of retries', async () => {
    const w = await world();
    const a = await w.jobs.allocate(admin, 'NAME="a"\nBACKUP_VMS="0"\nDATASTORE_ID=100\n');
    const b = await w.jobs.allocate(admin, 'NAME="b"\nBACKUP_VMS="1"\nDATASTORE_ID=100\nMAX_RETRIES=0\n');
    await w.jobs.backup(admin, a);
    await w.jobs.backup(admin, b);
    await until('both started', () => w.exec.calls.length === 2);
    await w.restart();
    await until('VM 0 started again', () => w.exec.running().includes(0));
    assert.equal((await vmRow(w, a, 0)).attempt, 2);
    assert.deepEqual((await sets(w, b)).ERROR, [1]);
    assert.equal(
      (await vmRow(w, b, 1)).error,
      'interrupted: onebackupd stopped during the backup (attempt 1 of 1)',
    );
    assert.equal((await w.jobs.runs(admin, b)).runs[0]?.run.result, 'failed');
    call(w, 0).succeed();
    await until('VM 0 UPDATED', async () => (await sets(w, a)).UPDATED.includes(0));
  });

  it('a job deleted while its backup runs: the backup ends unowned, the slot is freed for other jobs', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    const gone = await w.jobs.allocate(admin, 'NAME="gone"\nBACKUP_VMS="0,1"\nDATASTORE_ID=100\n');
    const other = await w.jobs.allocate(
      admin,
      'NAME="other"\nBACKUP_VMS="2"\nDATASTORE_ID=100\nPRIORITY=10\n',
    );
    await w.jobs.backup(admin, gone);
    await until('VM 0 started', () => w.exec.calls.length === 1);
    await w.jobs.backup(admin, other);
    await until('VM 2 waits for the slot', () => w.scheduler.waiting(other).length === 1);
    assert.deepEqual(
      w.scheduler.waiting(other).map((x) => x.reason),
      ['global slots 1/1'],
    );
    await w.jobs.delete(admin, gone);
    await passed(w.scheduler);
    assert.equal(w.exec.calls.length, 1, 'the running backup still holds the only slot');
    call(w, 0).succeed();
    await until('VM 2 started', () => w.exec.running().includes(2));
    assert.ok(!w.exec.running().includes(1), 'nothing of the deleted job starts');
    call(w, 2).succeed();
    await until('VM 2 UPDATED', async () => (await sets(w, other)).UPDATED.includes(2));
  });

  it('a schedule due on a busy job records why and fires once when the run ends; the next TIME moves on', async () => {
    const w = await world();
    const t = T0 / 1000 + 60;
    const job = await w.jobs.allocate(
      admin,
      `NAME="s"\nBACKUP_VMS="0"\nDATASTORE_ID=100\nSCHED_ACTION=[TIME="${t}", REPEAT="3", DAYS="1"]\n`,
    );
    await w.jobs.backup(admin, job);
    await until('VM 0 started', () => w.exec.calls.length === 1);
    w.clock.advance(61_000);
    await until('schedule message', async () => {
      const sa = await w.store.db.selectFrom('sched_actions').selectAll().executeTakeFirstOrThrow();
      return sa.message.includes('Unable to execute Backup Job, pending backups in progress');
    });
    call(w, 0).succeed();
    await until('the schedule ran', () => w.exec.calls.length === 2);
    const sa = await w.store.db.selectFrom('sched_actions').selectAll().executeTakeFirstOrThrow();
    assert.equal(sa.message, '');
    assert.equal(sa.time, t + 3600);
    const runs = (await w.jobs.runs(admin, job)).runs;
    assert.deepEqual(
      runs.map((r) => r.run.trigger),
      ['schedule', 'manual'],
    );
    call(w, 0).succeed();
    await until('run 2 ended', async () => (await w.jobs.runs(admin, job)).runs[0]?.run.result === 'done');
    // Three hours later (the daemon was busy or down), one catch-up run, not three.
    w.clock.advance(3 * 3600_000 + 1000);
    await until('catch-up run', () => w.exec.calls.length === 3);
    call(w, 0).succeed();
    // The run's end fires due schedules (none is due), and their pass asks for a dispatch pass.
    await until('run 3 ended', async () => (await w.jobs.runs(admin, job)).runs[0]?.run.result === 'done');
    await passed(w.scheduler);
    assert.equal(w.exec.calls.length, 3);
    const next = await w.store.db.selectFrom('sched_actions').selectAll().executeTakeFirstOrThrow();
    assert.ok(next.time > w.clock.now() / 1000, 'the next TIME is in the future');
  });
});
