// npm run bench:scheduler (second part; runs from dist/) [-- --vms 10000 --jobs 1000 --runs 1]
// The same world as bench/scheduler.mjs (10,000 VMs on 100 hosts in 1,000 jobs, MAX_BACKUPS 5,
// MAX_BACKUPS_HOST 2), driven to the end through the real store: each VM backup is dispatched by
// a JobScheduler (its claim and the VM's move to ONGOING in one transaction) and recorded by a
// backup that finishes at once (its completion transaction, as the engine's record does), so
// what is measured is the store's part of a dispatch. Three stores in the same run: SQLite (one
// daemon), PostgreSQL with one daemon, PostgreSQL with three (three schedulers with their own
// pools, claims counted over all, notices between them). PostgreSQL is a throwaway cluster
// (test/support/postgres.ts: fsync off, on this machine's loopback). Prints the time per VM
// backup (dispatch + record) and its ratio to SQLite's, medians of --runs.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../dist/core/clock.js';
import { JobScheduler } from '../dist/core/scheduler/job-scheduler.js';
import { Secret } from '../dist/core/secret.js';
import { BackupJobService } from '../dist/core/services/backupjobs.js';
import { DatastoreService } from '../dist/core/services/datastores.js';
import { HostService } from '../dist/core/services/hosts.js';
import { UserService } from '../dist/core/services/users.js';
import { VmService } from '../dist/core/services/vms.js';
import { openStore } from '../dist/core/store/open.js';
import { cleanup, tempDir } from '../dist/test/support/daemon.js';
import { createDatabase, startPostgres } from '../dist/test/support/postgres.js';
import { testServiceDeps } from '../dist/test/support/service-deps.js';

const { values: flags } = parseArgs({
  options: {
    vms: { type: 'string', default: '10000' },
    jobs: { type: 'string', default: '1000' },
    hosts: { type: 'string', default: '100' },
    runs: { type: 'string', default: '1' },
  },
});
const VMS = Number(flags.vms);
const JOBS = Number(flags.jobs);
const HOSTS = Number(flags.hosts);
const RUNS = Number(flags.runs);
const LIMITS = { maxBackups: 5, maxBackupsHost: 2 };
const admin = { uid: 0, gid: 0, uname: 'oneadmin', gname: 'oneadmin', isAdmin: true };
const quiet = {
  error: (m, f) => console.error(m, f),
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const serviceDeps = (store, dir) => testServiceDeps(store, systemClock, dir);

/** 100 hosts, 10,000 VMs, 1,000 jobs of 10 VMs (mixed priorities, half SEQUENTIAL), all triggered. */
async function populate(store, dir) {
  const deps = serviceDeps(store, dir);
  await new UserService(deps).bootstrap();
  const hosts = new HostService(deps);
  for (let h = 0; h < HOSTS; h++) await hosts.allocate(admin, `NAME="node${h}"\nTRANSPORT="local"\n`);
  await new DatastoreService(deps).allocate(admin, 'NAME="ds"\nTYPE="BACKUP_DS"\nENCRYPTION="NO"\n');
  const vms = new VmService(deps);
  for (let i = 0; i < VMS; i++)
    await vms.allocate(admin, `NAME="vm${i}"\nHOST="node${i % HOSTS}"\nDISK=[SOURCE="/d/${i}"]\n`);
  const jobs = new BackupJobService(deps);
  const per = Math.ceil(VMS / JOBS);
  const ids = [];
  for (let j = 0; j < JOBS; j++) {
    const list = Array.from({ length: per }, (_, k) => j * per + k).filter((v) => v < VMS);
    ids.push(
      await jobs.allocate(
        admin,
        `NAME="j${j}"\nBACKUP_VMS="${list.join(',')}"\nDATASTORE_ID=100\nPRIORITY=${(j * 37) % 100}\n` +
          `EXECUTION="${j % 2 ? 'SEQUENTIAL' : 'PARALLEL'}"\n`,
      ),
    );
  }
  return { jobs, ids };
}

/** A scheduler whose backups finish at once, recording their end as the engine does. */
function scheduler(store, jobs, name, onDone) {
  let s;
  const executor = {
    backupVm: async (vm, _ds, o) => {
      await store.tx((trx) => o.alsoRecord(trx, { bytesDone: 1, bytesTotal: 1 }));
      onDone(vm);
      return { imageId: 0, incrementId: 0, manifest: undefined };
    },
    progress: () => undefined,
    restore: async () => undefined,
    verify: async () => undefined,
    gc: async () => undefined,
    scheduledVerify: async () => undefined,
  };
  s = new JobScheduler({
    daemon: { id: name, name },
    leading: () => false,
    store,
    clock: systemClock,
    log: quiet,
    executor,
    limits: LIMITS,
    gates: { maxRestores: 1, maxMaintenance: 1 },
    timeZone: 'UTC',
    ctime: (t) => new Date(t * 1000).toUTCString(),
    execute: (trx, row, trigger) => jobs.execute(trx, row, trigger),
  });
  store.coordination.onNotice((n) => s.noticed(n));
  return s;
}

/** Drives every VM backup to its record with `daemons` schedulers; ms per VM backup. */
async function drive(open, daemons) {
  const dir = tempDir('onebackup-bench-');
  const stores = [];
  try {
    for (let i = 0; i < daemons; i++) stores.push(await open(dir, i));
    const { jobs, ids } = await populate(stores[0], dir);
    let done = 0;
    let resolve;
    const all = new Promise((r) => {
      resolve = r;
    });
    const schedulers = stores.map((store, i) =>
      scheduler(store, new BackupJobService(serviceDeps(store, dir)), `bench-${i}`, () => {
        done += 1;
        if (done === VMS) resolve();
      }),
    );
    for (const id of ids) await jobs.backup(admin, id);
    const t0 = performance.now();
    await Promise.all(schedulers.map((s) => s.start()));
    const beat = setInterval(() => {
      for (const s of schedulers) s.beat();
    }, 1000);
    await all;
    const ms = performance.now() - t0;
    clearInterval(beat);
    for (const s of schedulers) await s.stop(0);
    return ms / VMS;
  } finally {
    for (const s of stores) await s.close();
    cleanup(dir);
  }
}

const pg = await startPostgres();
try {
  const pgStore = async (_dir, i) => {
    if (i === 0) pgStore.db = await createDatabase(pg, 'bench');
    return openStore({
      backend: 'postgresql',
      server: pg.host,
      port: pg.port,
      user: pg.user,
      password: new Secret(pg.password),
      database: pgStore.db,
      connections: 4,
      leaseSeconds: 30,
    });
  };
  const sqlite = async (dir) => openStore({ backend: 'sqlite', path: join(dir, 'state.db') });
  const results = { sqlite: [], pg1: [], pg3: [] };
  for (let r = 0; r < RUNS; r++) {
    results.sqlite.push(await drive(sqlite, 1));
    results.pg1.push(await drive(pgStore, 1));
    results.pg3.push(await drive(pgStore, 3));
  }
  const base = median(results.sqlite);
  console.log(
    `dispatch through the store: ${VMS} VMs, ${HOSTS} hosts, ${JOBS} jobs, MAX_BACKUPS ${LIMITS.maxBackups}, MAX_BACKUPS_HOST ${LIMITS.maxBackupsHost}; median of ${RUNS} run(s)`,
  );
  for (const [label, xs] of [
    ['SQLite, 1 daemon', results.sqlite],
    ['PostgreSQL, 1 daemon', results.pg1],
    ['PostgreSQL, 3 daemons', results.pg3],
  ]) {
    const m = median(xs);
    console.log(
      `  ${label.padEnd(24)} ${m.toFixed(2).padStart(7)} ms per VM backup (dispatch + record)  ${(m / base).toFixed(2)}x SQLite`,
    );
  }
} finally {
  await pg.stop();
}
