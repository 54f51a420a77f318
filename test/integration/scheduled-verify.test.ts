/**
 * Scheduled verify per datastore (issue 10, chunk integrity): with VERIFY_INTERVAL and
 * VERIFY_BUDGET it fires at its time (not before), stops once its budget of bytes is read,
 * resumes where it stopped at the next time, records per image what it found, and starts from
 * the beginning after reaching the end. Real SQLite store, services, scheduler and engine (local
 * datastore, fs hypervisor, real disk files); time is a manual clock.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { datastoreAccess } from '../../core/engine/datastore-access.js';
import { OpenDatastores } from '../../core/engine/open-datastores.js';
import { ChunkPool } from '../../core/engine/pool.js';
import { RestoreJournal } from '../../core/engine/restore-journal.js';
import { BackupRunner } from '../../core/engine/runner.js';
import type { Logger } from '../../core/log.js';
import { ONEADMIN_GID, ONEADMIN_UID } from '../../core/model.js';
import type { Requester } from '../../core/permissions.js';
import { JobScheduler } from '../../core/scheduler/job-scheduler.js';
import { VmOperations } from '../../core/scheduler/vm-operations.js';
import { forwardingScheduler } from '../../core/scheduler-port.js';
import { BackupJobService } from '../../core/services/backupjobs.js';
import type { ServiceDeps } from '../../core/services/context.js';
import { DatastoreService } from '../../core/services/datastores.js';
import { HostService } from '../../core/services/hosts.js';
import { UserService } from '../../core/services/users.js';
import { VmService } from '../../core/services/vms.js';
import { findImage } from '../../core/store/images.js';
import { verifyPosition } from '../../core/store/verify-schedules.js';
import { fileKeyStore } from '../../drivers/datastore/keys.js';
import { DATASTORE_DRIVERS } from '../../drivers/datastore/registry.js';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import { HYPERVISOR_DRIVERS, vmDiscovery } from '../../drivers/hypervisor/registry.js';
import { hypervisorHosts } from '../../drivers/remote/host-drivers.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { ManualClock } from '../support/manual-clock.js';
import { openTestStore } from '../support/store.js';

const MiB = 1024 * 1024;
const HOUR = 3600 * 1000;
const admin: Requester = {
  uid: ONEADMIN_UID,
  gid: ONEADMIN_GID,
  uname: 'oneadmin',
  gname: 'oneadmin',
  isAdmin: true,
};

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out (10 s) waiting for: ${what}`);
}

/**
 * Datastore 100 with VERIFY_INTERVAL 1 hour and a 6 MiB budget; VMs 0 and 1, each a 12 MiB
 * random raw disk (3 incompressible chunks of 4 MiB), backed up once (images 0 and 1).
 */
/**
 * A manual clock that, while `ticking`, reads one second later at every now(): the time a verify
 * takes, without timers firing in the middle of it.
 */
class TickingClock extends ManualClock {
  ticking = false;
  #extra = 0;
  override now(): number {
    if (this.ticking) this.#extra += 1000;
    return super.now() + this.#extra;
  }
}

async function world(budget = '6 MiB') {
  const dir = tempDir();
  closers.push(() => cleanup(dir));
  const store = await openTestStore(join(dir, 'state.db'));
  closers.push(() => store.close());
  const clock = new TickingClock(Date.UTC(2026, 0, 5, 9));
  const logged: { msg: string; fields: Record<string, unknown> }[] = [];
  const log: Logger = {
    error: (msg, fields = {}) => logged.push({ msg, fields }),
    warn: () => undefined,
    info: (msg, fields = {}) => logged.push({ msg, fields }),
    debug: () => undefined,
  };
  const keys = fileKeyStore(dir);
  let scheduler: JobScheduler | undefined;
  const deps: ServiceDeps = {
    store,
    clock,
    timeZone: 'UTC',
    scheduler: forwardingScheduler(() => scheduler),
    inspectDisk: async () => ({ format: 'raw', virtualSize: 12 * MiB }),
    discovery: vmDiscovery(hypervisorHosts(HYPERVISOR_DRIVERS)),
    hypervisorDrivers: ['fs'],
    datastoreDrivers: ['local'],
    defaultDatastoreBase: join(dir, 'ds'),
    createDatastoreKey: (id) => keys.create(id),
    datastoreAccess: datastoreAccess(DATASTORE_DRIVERS, keys),
    dropManifests: async () => undefined,
  };
  await new UserService(deps).bootstrap();
  await new HostService(deps).allocate(admin, 'NAME="node1"\nTRANSPORT="local"\n');
  const ds = await new DatastoreService(deps).allocate(
    admin,
    `NAME="nightly"\nVERIFY_INTERVAL="1"\nVERIFY_BUDGET="${budget}"\n`,
  );
  const pool = new ChunkPool(2);
  closers.push(() => pool.close());
  const openDatastores = new OpenDatastores(DATASTORE_DRIVERS);
  closers.push(() => openDatastores.closeAll());
  const engine = new BackupRunner({
    clock,
    log,
    pool,
    hypervisors: hypervisorHosts(new Map([['fs', fsDriver]])),
    openDatastores,
    loadKeys: (id) => keys.load(id),
    scratchDir: join(dir, 'scratch'),
    restoreJournal: new RestoreJournal(join(dir, 'restores', '.journal')),
  });
  const operations = new VmOperations({
    store,
    clock,
    log,
    engine,
    timeZone: 'UTC',
    ctime: (s) => new Date(s * 1000).toUTCString(),
  });
  const vms = new VmService(deps);
  for (const vm of [0, 1]) {
    const disk = join(dir, `disk${vm}.raw`);
    writeFileSync(disk, randomBytes(12 * MiB));
    await vms.allocate(admin, `NAME="vm${vm}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`);
    await operations.backupVm(vm, ds, { reset: false, owner: { uid: 0, gid: 0, isAdmin: true } });
  }
  const jobs = new BackupJobService(deps);
  scheduler = new JobScheduler({
    daemon: { id: 'test-daemon', name: 'onebackupd test' },
    store,
    clock,
    log,
    executor: operations,
    limits: { maxBackups: 1, maxBackupsHost: 1 },
    gates: { maxRestores: 1, maxMaintenance: 1 },
    timeZone: 'UTC',
    ctime: (s) => new Date(s * 1000).toUTCString(),
    execute: (trx, row, trigger) => jobs.execute(trx, row, trigger),
  });
  const s = scheduler;
  closers.push(() => s.stop(0));
  await s.start();
  const runs = () => logged.filter((l) => l.msg === 'scheduled verify done').map((l) => l.fields);
  const chunkDir = join(dir, 'ds', String(ds), 'chunks');
  return { store, clock, scheduler: s, ds, runs, logged, chunkDir };
}

/**
 * Moves the clock on (and 10 ms more: the timer fires a few ms after the due second) and waits
 * for the verify timer's pass and the verifies it started.
 */
async function advance(w: Awaited<ReturnType<typeof world>>, ms: number): Promise<void> {
  w.clock.advance(ms + 10);
  await w.scheduler.verifies.idle();
}

describe('scheduled verify', () => {
  it('fires at its time, stops at its budget, resumes there next time and records per image', async () => {
    const w = await world();
    await until(
      'armed',
      async () => (await w.store.db.selectFrom('verify_schedules').selectAll().execute()).length === 1,
    );
    const row = await w.store.db.selectFrom('verify_schedules').selectAll().executeTakeFirstOrThrow();
    assert.equal(row.next_at, Date.UTC(2026, 0, 5, 10) / 1000);
    // Not before its time.
    await advance(w, HOUR - 60_000);
    assert.equal(w.runs().length, 0);

    // 10:00: reads chunks of 4 MiB until the 6 MiB budget is spent: two chunks of image 0.
    await advance(w, 60_000);
    assert.equal(w.runs().length, 1);
    assert.deepEqual(w.runs()[0]?.resumesAt, { imageId: 0, incrementId: 0, chunk: 2 });
    assert.ok((w.runs()[0]?.bytes as number) >= 8 * MiB && (w.runs()[0]?.bytes as number) < 9 * MiB);
    assert.deepEqual(await verifyPosition(w.store.db, w.ds), {
      imageId: 0,
      incrementId: 0,
      chunk: 2,
      imageBroken: false,
    });
    // Image 0 was read only in part: not recorded yet.
    assert.equal((await findImage(w.store.db, 0))?.verified_at, 0);

    // 11:00: resumes at chunk 2 of image 0 (finishing it), then one chunk of image 1.
    await advance(w, HOUR);
    assert.equal(w.runs().length, 2);
    assert.deepEqual(w.runs()[1]?.resumesAt, { imageId: 1, incrementId: 0, chunk: 1 });
    const image0 = await findImage(w.store.db, 0);
    assert.equal(image0?.verified_at, Date.UTC(2026, 0, 5, 11) / 1000);
    assert.equal(image0?.state, 1);
    assert.equal((await findImage(w.store.db, 1))?.verified_at, 0);

    // A chunk of image 1 not read yet goes bad: 12:00 finds it, records image 1 broken, reaches the end.
    const files = readdirSync(w.chunkDir).flatMap((sub) =>
      readdirSync(join(w.chunkDir, sub)).map((f) => join(w.chunkDir, sub, f)),
    );
    const image1Chunks = await image1ChunkIds(w);
    const target = files.find((f) => f.endsWith(image1Chunks[2] as string));
    assert.ok(target);
    const bytes = readFileSync(target);
    bytes[bytes.length - 9] = (bytes[bytes.length - 9] as number) ^ 1;
    writeFileSync(target, bytes);
    await advance(w, HOUR);
    assert.equal(w.runs().length, 3);
    assert.equal(w.runs()[2]?.reachedEnd, true);
    assert.equal(w.runs()[2]?.problems, 1);
    const image1 = await findImage(w.store.db, 1);
    assert.equal(image1?.state, 5);
    assert.match(image1?.template ?? '', /\[verify\] increment 0 disk 0: .*quarantined/);
    assert.equal(await verifyPosition(w.store.db, w.ds), undefined);
    const done = await w.store.db.selectFrom('verify_schedules').selectAll().executeTakeFirstOrThrow();
    assert.equal(done.cycle_done_at, Date.UTC(2026, 0, 5, 12) / 1000);

    // 13:00: a new cycle from the start.
    await advance(w, HOUR);
    assert.equal(w.runs().length, 4);
    assert.deepEqual(w.runs()[3]?.resumesAt, { imageId: 0, incrementId: 0, chunk: 2 });
    // The scheduled verify took the verify/GC slot and told no error.
    assert.ok(!w.logged.some((l) => l.msg === 'scheduled verify failed'));
  });
});

async function image1ChunkIds(w: Awaited<ReturnType<typeof world>>): Promise<string[]> {
  const inc = await w.store.db
    .selectFrom('image_increments')
    .select('source')
    .where('image_id', '=', 1)
    .executeTakeFirstOrThrow();
  const dsDir = join(w.chunkDir, '..', 'backups');
  const m = JSON.parse(readFileSync(join(dsDir, inc.source), 'utf8')) as { disks: { chunks: string[] }[] };
  return m.disks[0]?.chunks ?? [];
}

describe('scheduled verify with a time budget', () => {
  it('stops once its time is spent, before the end, and the next run resumes there', async () => {
    const w = await world('3 s');
    await until(
      'armed',
      async () => (await w.store.db.selectFrom('verify_schedules').selectAll().execute()).length === 1,
    );
    await w.scheduler.verifies.idle(); // the pass that armed it has set its timer
    // Every reading of the clock during the run is a second later: 3 s is a few chunks.
    w.clock.ticking = true;
    await advance(w, HOUR);
    w.clock.ticking = false;
    assert.equal(w.runs().length, 1, JSON.stringify(w.logged));
    const first = w.runs()[0];
    assert.equal(first?.reachedEnd, undefined, 'the time ran out before the end');
    assert.ok(first?.resumesAt, 'it says where the next run resumes');
    assert.ok((first?.bytes as number) < 24 * MiB, `${first?.bytes} bytes read of the 24 MiB`);
    assert.deepEqual(await verifyPosition(w.store.db, w.ds), { ...first?.resumesAt, imageBroken: false });
    // The next run (its time moved by the seconds the first took), with time enough, goes on to the end.
    await advance(w, HOUR + 5 * 60_000);
    assert.equal(w.runs().length, 2);
    assert.equal(w.runs()[1]?.reachedEnd, true);
    assert.equal(await verifyPosition(w.store.db, w.ds), undefined);
  });
});
