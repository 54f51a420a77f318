/**
 * Every data-moving operation takes a slot (issue 9): `onevm backup` waits behind MAX_BACKUPS and
 * MAX_BACKUPS_HOST with job backups (and ahead of them), restores behind MAX_RESTORES, verify and
 * GC behind MAX_MAINTENANCE; while queued, the reason is there to show. On a real SQLite store with
 * the real services and scheduler; the engine is a hand-driven executor.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Logger } from '../../core/log.js';
import { ONEADMIN_GID, ONEADMIN_UID } from '../../core/model.js';
import type { Requester } from '../../core/permissions.js';
import { JobScheduler } from '../../core/scheduler/job-scheduler.js';
import type { BackupExecutor } from '../../core/scheduler/scheduler-deps.js';
import type { BackupOptions, BackupResult } from '../../core/scheduler/vm-operations.js';
import type { RestoreOutcome } from '../../core/scheduler-port.js';
import { BackupJobService } from '../../core/services/backupjobs.js';
import type { ServiceDeps } from '../../core/services/context.js';
import { DatastoreService } from '../../core/services/datastores.js';
import { HostService } from '../../core/services/hosts.js';
import { UserService } from '../../core/services/users.js';
import { VmBackupService } from '../../core/services/vm-backups.js';
import { VmService } from '../../core/services/vms.js';
import type { Store } from '../../core/store/db.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { ManualClock } from '../support/manual-clock.js';
import { passed, until } from '../support/scheduler-wait.js';
import { testServiceDeps } from '../support/service-deps.js';
import { openTestStore } from '../support/store.js';

const admin: Requester = {
  uid: ONEADMIN_UID,
  gid: ONEADMIN_GID,
  uname: 'oneadmin',
  gname: 'oneadmin',
  isAdmin: true,
};

/** Operations that end when the test says; what started, in order. */
class HandExecutor implements BackupExecutor {
  readonly started: string[] = [];
  readonly #finish = new Map<string, () => void>();
  constructor(private readonly store: Store) {}

  #hold<T>(name: string, value: () => Promise<T>): Promise<T> {
    this.started.push(name);
    return new Promise((resolve, reject) => {
      this.#finish.set(name, () => value().then(resolve, reject));
    });
  }
  finish(name: string): void {
    const f = this.#finish.get(name);
    assert.ok(f, `${name} was started`);
    this.#finish.delete(name);
    f();
  }
  backupVm(vmId: number, _ds: number, options: BackupOptions): Promise<BackupResult> {
    return this.#hold(`backup ${vmId}`, async () => {
      const also = options.alsoRecord;
      if (also) await this.store.tx((trx) => also(trx, { bytesDone: 1, bytesTotal: 1 }));
      return { imageId: vmId, incrementId: 0 } as unknown as BackupResult;
    });
  }
  progress(): undefined {
    return undefined;
  }
  restore(r: { imageId: number }): Promise<RestoreOutcome> {
    return this.#hold(`restore ${r.imageId}`, async () => ({ manifest: { disks: [] }, files: new Map() }));
  }
  verify(ds: number) {
    return this.#hold(`verify ${ds}`, async () => ({ chunksChecked: 0, problems: [] }));
  }
  gc(ds: number) {
    return this.#hold(`gc ${ds}`, async () => ({ chunksKept: 0, chunksRemoved: 0, unknownManifests: [] }));
  }
  scheduledVerify(): never {
    throw new Error('no scheduled verify in this test');
  }
}

const opened: { store: Store; scheduler: JobScheduler; dir: string }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.scheduler.stop(0);
    await o.store.close();
    cleanup(o.dir);
  }
});

/** Hosts node1, node2; VMs 0..3 (VM i on node (i % 2) + 1) in no job; datastore 100. */
async function world(limits: { maxBackups: number; maxBackupsHost: number }) {
  const dir = tempDir();
  const store = await openTestStore(join(dir, 'state.db'));
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const logged: { msg: string; fields: Record<string, unknown> }[] = [];
  const log: Logger = {
    error: () => undefined,
    warn: () => undefined,
    info: (msg, fields = {}) => logged.push({ msg, fields }),
    debug: () => undefined,
  };
  let scheduler: JobScheduler | undefined;
  const deps: ServiceDeps = testServiceDeps(store, clock, dir, () => scheduler);
  await new UserService(deps).bootstrap();
  for (const h of ['node1', 'node2'])
    await new HostService(deps).allocate(admin, `NAME="${h}"\nTRANSPORT="local"\n`);
  await new DatastoreService(deps).allocate(admin, 'NAME="ds"\nTYPE="BACKUP_DS"\n');
  for (let i = 0; i < 4; i++)
    await new VmService(deps).allocate(
      admin,
      `NAME="vm${i}"\nHOST="node${(i % 2) + 1}"\nDISK=[SOURCE="/d/${i}"]\n`,
    );
  const jobs = new BackupJobService(deps);
  const exec = new HandExecutor(store);
  scheduler = new JobScheduler({
    daemon: { id: 'test-daemon', name: 'onebackupd test' },
    store,
    clock,
    log,
    executor: exec,
    limits,
    gates: { maxRestores: 1, maxMaintenance: 1 },
    timeZone: 'UTC',
    ctime: (s) => new Date(s * 1000).toUTCString(),
    execute: (trx, row, trigger) => jobs.execute(trx, row, trigger),
  });
  await scheduler.start();
  opened.push({ store, scheduler, dir });
  const vmBackups = new VmBackupService(deps, { restoreDir: join(dir, 'restores') });
  return { scheduler, exec, jobs, vmBackups, logged, vms: new VmService(deps) };
}

describe('data-moving operations take slots', () => {
  it('onevm backup waits behind MAX_BACKUPS with its reason, then starts when the slot frees', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    await w.vmBackups.backup(admin, 0, 100, false);
    await w.vmBackups.backup(admin, 1, 100, false);
    await until('VM 0 started', () => w.exec.started.includes('backup 0'));
    await passed(w.scheduler);
    assert.deepEqual(w.exec.started, ['backup 0']);
    assert.equal(w.scheduler.backupQueuedReason(1), 'global slots 1/1');
    assert.equal(w.scheduler.backupQueuedReason(0), undefined, 'a running backup is not queued');
    assert.ok(w.logged.some((l) => l.msg === 'backup queued' && l.fields['vm'] === 1));
    await assert.rejects(w.vmBackups.backup(admin, 1, 100, false), /VM 1, a backup is already running/);
    w.exec.finish('backup 0');
    await until('VM 1 started', () => w.exec.started.includes('backup 1'));
    assert.equal(w.scheduler.backupQueuedReason(1), undefined);
    w.exec.finish('backup 1');
    await until('VM 1 done', () => !w.scheduler.hasBackup(1));
  });

  it('MAX_BACKUPS_HOST holds for onevm backup too, and a request for another host runs', async () => {
    const w = await world({ maxBackups: 0, maxBackupsHost: 1 });
    await w.vmBackups.backup(admin, 0, 100, false); // node1
    await w.vmBackups.backup(admin, 2, 100, false); // node1
    await w.vmBackups.backup(admin, 1, 100, false); // node2
    await until('VMs 0 and 1 started', () => w.exec.started.length === 2);
    await passed(w.scheduler);
    assert.deepEqual([...w.exec.started].sort(), ['backup 0', 'backup 1']);
    assert.equal(w.scheduler.backupQueuedReason(2), 'host node1 1/1');
    w.exec.finish('backup 0');
    await until('VM 2 started', () => w.exec.started.includes('backup 2'));
    w.exec.finish('backup 1');
    w.exec.finish('backup 2');
  });

  it('job backups and onevm backup share the slots; a queued onevm backup goes first', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    const job = await w.jobs.allocate(admin, 'NAME="j"\nBACKUP_VMS="0,2"\nDATASTORE_ID=100\n');
    await w.jobs.backup(admin, job);
    await until('VM 0 of the job started', () => w.exec.started.includes('backup 0'));
    await w.vmBackups.backup(admin, 1, 100, false);
    await passed(w.scheduler);
    assert.equal(w.scheduler.backupQueuedReason(1), 'global slots 1/1');
    w.exec.finish('backup 0');
    await until('the next backup started', () => w.exec.started.length === 2);
    assert.equal(w.exec.started[1], 'backup 1', 'the onevm backup ran before the job VM 2');
    w.exec.finish('backup 1');
    await until('VM 2 of the job started', () => w.exec.started.includes('backup 2'));
    w.exec.finish('backup 2');
  });

  it('restores wait for MAX_RESTORES, verify and GC for MAX_MAINTENANCE, each with its reason', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    const first = w.scheduler.restore({
      imageId: 7,
      vmId: 0,
      incrementId: undefined,
      diskId: undefined,
      dir: '/x',
    });
    const second = w.scheduler.restore({
      imageId: 8,
      vmId: 1,
      incrementId: undefined,
      diskId: undefined,
      dir: '/y',
    });
    await until('the first restore started', () => w.exec.started.includes('restore 7'));
    const queued = w.logged.find((l) => l.msg === 'restore queued');
    assert.equal(queued?.fields['reason'], 'restore slots 1/1');
    assert.equal(queued?.fields['image'], 8);
    assert.ok(!w.exec.started.includes('restore 8'), 'the second restore waits');
    // A restore does not hold a backup slot: a backup runs meanwhile.
    await w.vmBackups.backup(admin, 2, 100, false);
    await until('the backup started beside the restore', () => w.exec.started.includes('backup 2'));
    w.exec.finish('restore 7');
    await first;
    await until('the second restore started', () => w.exec.started.includes('restore 8'));
    w.exec.finish('restore 8');
    await second;

    const verify = w.scheduler.verify(100, {});
    const gc = w.scheduler.gc(100);
    await until('verify started', () => w.exec.started.includes('verify 100'));
    assert.equal(
      w.logged.find((l) => l.msg === 'garbage collection queued')?.fields['reason'],
      'verify and GC slots 1/1',
    );
    assert.ok(!w.exec.started.includes('gc 100'));
    w.exec.finish('verify 100');
    await verify;
    await until('gc started', () => w.exec.started.includes('gc 100'));
    w.exec.finish('gc 100');
    await gc;
    w.exec.finish('backup 2');
  });

  it('deleting a VM of a job: refused while it backs up, else it leaves BACKUP_VMS and the run', async () => {
    const w = await world({ maxBackups: 1, maxBackupsHost: 0 });
    const job = await w.jobs.allocate(admin, 'NAME="j"\nBACKUP_VMS="0,2"\nDATASTORE_ID=100\n');
    await w.jobs.backup(admin, job);
    await until('VM 0 started', () => w.exec.started.includes('backup 0'));
    await assert.rejects(
      w.vms.delete(admin, 0),
      new RegExp(
        `VM 0 has a backup running; cancel it first: onebackupjob cancel ${job}, then delete the VM`,
      ),
    );
    await w.vms.delete(admin, 2); // waiting in OUTDATED behind the full slot
    const view = await w.jobs.info(admin, job);
    assert.deepEqual(
      view.template.find((a) => a.name === 'BACKUP_VMS'),
      { kind: 'single', name: 'BACKUP_VMS', value: '0' },
    );
    assert.deepEqual(view.sets.OUTDATED, []);
    const [run] = (await w.jobs.runs(admin, job)).runs;
    assert.deepEqual(
      run?.tasks.map((t) => [t.vm_id, t.status, t.error]),
      [
        [0, 'executing', ''],
        [2, 'excluded', 'VM deleted'],
      ],
    );
    w.exec.finish('backup 0');
    await until(
      'the run ended',
      async () => ((await w.jobs.runs(admin, job)).runs[0]?.run.result ?? '') === 'done',
    );
    assert.ok(!w.exec.started.includes('backup 2'), 'the deleted VM was never backed up');
  });
});
