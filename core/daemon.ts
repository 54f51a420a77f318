/**
 * The composition root of onebackupd: state directory, store, services, API server.
 * start() opens and reconciles in dependency order; stop() closes in reverse. Both are
 * idempotent. Signals are handled by the caller (cli/onebackupd.ts), not here.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileKeyStore } from '../drivers/datastore/keys.js';
import type { DatastoreDriverFactory } from '../drivers/datastore/types.js';
import { vmDiscovery } from '../drivers/hypervisor/registry.js';
import type { HypervisorHosts } from '../drivers/hypervisor/types.js';
import { ElementCache } from './api/element-cache.js';
import type { Services } from './api/methods.js';
import { ApiServer } from './api/server.js';
import { type Clock, epochSeconds } from './clock.js';
import type { DaemonConfig } from './config.js';
import type { DiskInspector } from './disk-facts.js';
import { gcmImplementation } from './engine/aes-gcm.js';
import { datastoreAccess } from './engine/datastore-access.js';
import { DatastoreProbes } from './engine/datastore-probes.js';
import { OpenDatastores } from './engine/open-datastores.js';
import { ChunkPool } from './engine/pool.js';
import { RestoreJournal } from './engine/restore-journal.js';
import { BackupRunner } from './engine/runner.js';
import { fanOut } from './events.js';
import type { Logger } from './log.js';
import type { ClusterState } from './metrics/cluster-metrics.js';
import { checkHealth } from './metrics/health.js';
import { type GetRoute, MetricsHttpServer } from './metrics/http.js';
import { DaemonMetrics } from './metrics/metrics.js';
import { type OutcomeRecorder, outcomeRecorder } from './metrics/outcomes.js';
import { readTaskLog, type TaskLog, taskLogger } from './metrics/task-log.js';
import { ctimeIn } from './schedule/time-format.js';
import { answerWithin } from './scheduler/bounded-wait.js';
import { BackupCopies } from './scheduler/copies.js';
import { JobScheduler } from './scheduler/job-scheduler.js';
import { Membership } from './scheduler/membership.js';
import { explainWaiting } from './scheduler/pick.js';
import { VmOperations } from './scheduler/vm-operations.js';
import { forwardingScheduler } from './scheduler-port.js';
import { BackupJobService } from './services/backupjobs.js';
import { ClusterService } from './services/clusters.js';
import type { ServiceDeps } from './services/context.js';
import { DatastoreService } from './services/datastores.js';
import { HostService } from './services/hosts.js';
import { ImageService } from './services/images.js';
import { ownedCalls } from './services/owned-calls.js';
import { MAX_TOKEN_TIME, UserService } from './services/users.js';
import { VmBackupService } from './services/vm-backups.js';
import { VmService } from './services/vms.js';
import { lockStateDir, type StateLock } from './state-lock.js';
import { datastoreRow } from './store/backups.js';
import { datastoreToOpen, listDatastores } from './store/datastores.js';
import type { Store } from './store/db.js';
import { manifestsOnDatastore } from './store/images.js';
import { openStore } from './store/open.js';
import { hypervisorVms } from './store/vms.js';
import { VERSION } from './version.js';
import { type WriteMarks, writeMarksIn } from './write-marks.js';

/** /health: the scheduler's timer ticks every 2 s; 30 s without one means it is stuck or stopped. */
const HEARTBEAT_MAX_AGE_MS = 30_000;
const HEALTH_STORE_TIMEOUT_MS = 5_000;

export interface DaemonDeps {
  readonly config: DaemonConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly inspectDisk: DiskInspector;
  /** The hypervisor drivers of each host: this machine's, or run by a host's agent over SSH. */
  readonly hypervisors: HypervisorHosts;
  readonly datastores: ReadonlyMap<string, DatastoreDriverFactory>;
}

export class Daemon {
  #store: Store | undefined;
  #server: ApiServer | undefined;
  #pool: ChunkPool | undefined;
  #datastores: OpenDatastores | undefined;
  #probes: DatastoreProbes | undefined;
  #vmBackups: VmBackupService | undefined;
  #lock: StateLock | undefined;
  /** Cancels the next host monitoring pass. */
  #cancelMonitor: (() => void) | undefined;
  #scheduler: JobScheduler | undefined;
  #membership: Membership | undefined;
  #copies: BackupCopies | undefined;
  #url: string | undefined;
  #metricsServer: MetricsHttpServer | undefined;
  #metricsUrl: string | undefined;
  #taskLog: TaskLog | undefined;
  #outcomes: OutcomeRecorder | undefined;
  #starting: Promise<string> | undefined;

  constructor(private readonly deps: DaemonDeps) {}

  get authFile(): string {
    return join(this.deps.config.stateDir, 'one_auth');
  }

  /** URL of GET /metrics (on METRICS_LISTEN if set, else on the API's address); after start(). */
  get metricsUrl(): string | undefined {
    return this.#metricsUrl;
  }

  /**
   * Asks each hypervisor driver to undo what a crashed backup left on its VMs (kvm: exports,
   * freezes). VMs on this machine are done before start goes on (their markers live in the scratch
   * directory, wiped next); VMs on SSH hosts in the background, so a host that is down does not
   * hold the start (their drivers recover again before each backup).
   */
  private async recoverHypervisors(store: Store, scratchDir: string): Promise<void> {
    const vms = await hypervisorVms(store.db);
    const remote = vms.filter((vm) => !this.deps.hypervisors.isLocal(vm.location.host));
    const local = vms.filter((vm) => this.deps.hypervisors.isLocal(vm.location.host));
    const recover = (list: typeof vms) =>
      Promise.all(
        list.map(async (vm) => {
          const driver = this.deps.hypervisors.driver(vm.vmMad, vm.location.host);
          if (!driver?.recover) return;
          try {
            const done = await driver.recover(
              { id: vm.id, state: 'RUNNING', disks: vm.disks, location: vm.location },
              scratchDir,
            );
            if (done.length > 0)
              this.deps.log.info('cleaned up after an interrupted backup', { vm: vm.id, done });
          } catch (err) {
            this.deps.log.warn(
              'cannot clean up after an interrupted backup; the next backup of the VM will',
              {
                vm: vm.id,
                error: err instanceof Error ? err.message : String(err),
              },
            );
          }
        }),
      );
    void recover(remote);
    await recover(local);
  }

  /**
   * Starts a GC of each datastore the previous run died writing to (its chunks no manifest names
   * go); backups to it wait for that GC, others do not, and start does not.
   */
  private async collectInterruptedWrites(
    store: Store,
    runner: BackupRunner,
    marks: WriteMarks,
  ): Promise<void> {
    for (const id of marks.marked()) {
      const row = await datastoreRow(store.db, id).catch(() => undefined);
      if (!row) {
        marks.clear(id);
        continue;
      }
      this.deps.log.info('collecting what backups interrupted by a stop left in a datastore', {
        datastore: id,
      });
      runner
        .gc(datastoreToOpen(row), () => manifestsOnDatastore(store.db, id))
        .then(
          (r) =>
            this.deps.log.info('collected what interrupted backups left', {
              datastore: id,
              chunksRemoved: r.chunksRemoved,
            }),
          (err: unknown) =>
            this.deps.log.warn('cannot collect what interrupted backups left; onedatastore gc will', {
              datastore: id,
              error: err instanceof Error ? err.message : String(err),
            }),
        );
    }
  }

  /** This daemon among those sharing the store, for /health and metrics (never waits long for the store). */
  private async clusterState(): Promise<ClusterState> {
    const membership = this.#membership;
    if (!membership) return { self: '', leading: false, fenced: 'not started', leaseS: 0, daemons: [] };
    const base = {
      self: membership.name,
      leading: membership.leading,
      fenced: membership.fenced,
      leaseS: membership.leaseMs / 1000,
    };
    const got = await answerWithin(
      this.deps.clock,
      membership.daemons(),
      HEALTH_STORE_TIMEOUT_MS,
      'daemons',
    ).catch(() => undefined);
    if (!got) return { ...base, daemons: [] };
    return {
      ...base,
      daemons: got.daemons.map((d) => ({
        name: d.name,
        leader: d.leader,
        heartbeatAgeS: Math.round((got.nowMs - d.heartbeatMs) / 100) / 10,
        alive: got.nowMs - d.heartbeatMs <= membership.leaseMs,
      })),
    };
  }

  /** Opens everything and listens; resolves to the XML-RPC URL. */
  start(): Promise<string> {
    this.#starting ??= this.doStart();
    return this.#starting;
  }

  private async doStart(): Promise<string> {
    const { config, clock } = this.deps;
    mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
    this.#lock = lockStateDir(config.stateDir);
    this.#store = await openStore(config.db, { role: 'daemon' });
    const store = this.#store;
    // Every event naming a VM also goes to that VM's task log (onebackupjob runs --log).
    this.#taskLog = taskLogger(this.deps.log, { store, now: () => clock.now(), format: config.logFormat });
    const log = this.#taskLog.log;
    this.#outcomes = outcomeRecorder(store, () => clock.now(), log);
    const keys = fileKeyStore(config.stateDir);
    const scratchDir = join(config.stateDir, 'scratch');
    // A crash mid-backup of a live VM leaves exports, fleecing images, checkpoints, maybe a freeze:
    // the drivers undo them first (a freeze's marker is in scratch), then scratch goes.
    await this.recoverHypervisors(store, scratchDir);
    // Anything in scratch is left from a crash: point-in-time copies of a backup that never finished.
    await rm(scratchDir, { recursive: true, force: true });
    // Partial restore files a crash left: removed, unless kept 24 h for `oneimage restore --resume`.
    const restoreJournal = new RestoreJournal(join(config.stateDir, 'restores', '.journal'));
    const swept = await restoreJournal.sweep(epochSeconds(clock));
    if (swept.removed > 0 || swept.kept.length > 0)
      this.deps.log.info('partial restores left by a crash', {
        removed: swept.removed,
        keptForResume: swept.kept.map(
          (e) => `image ${e.imageId}: ${e.disks.map((d) => d.partial).join(', ')}`,
        ),
      });
    const probes = new DatastoreProbes({
      factories: this.deps.datastores,
      clock,
      log,
      timeoutMs: config.datastoreTimeoutSeconds * 1000,
    });
    this.#probes = probes;
    this.#datastores = new OpenDatastores(this.deps.datastores, probes);
    const openDatastores = this.#datastores;
    const known = async () =>
      (await listDatastores(store.db)).filter((r) => this.deps.datastores.has(r.ds_mad)).map(datastoreToOpen);
    await openDatastores.cleanupAll(await known(), this.deps.log);
    this.#pool = new ChunkPool(config.workers);
    const pool = this.#pool;
    let scheduler: JobScheduler | undefined;
    /** Created with the other services below; metrics read its hosts' reachability. */
    let hostService: HostService | undefined;
    const metrics = new DaemonMetrics({
      store,
      clock,
      limits: { maxBackups: config.maxBackups, maxBackupsHost: config.maxBackupsHost },
      dispatch: () => {
        const state = scheduler?.dispatchState();
        // Backups other daemons run hold slots here too; each daemon's metrics count its own.
        return (
          state && {
            running: state.running.filter((r) => !scheduler?.runsElsewhere(r.vmId)),
            waiting: explainWaiting(state),
          }
        );
      },
      datastoreStat: async (id) => (await datastoreSetup(id)).driver.stat(),
      version: VERSION.onebackup,
      poolUtilization: () => pool.busyShareSinceLastCall(),
      datastoreAnswers: () => probes.answers(),
      hostTraffic: () => this.deps.hypervisors.traffic(),
      hostsReachable: () => hostService?.reachability() ?? [],
      cluster: () => this.clusterState(),
    });
    const observer = fanOut([metrics.observer, this.#outcomes], (err) =>
      log.warn('metrics observer failed', { error: err instanceof Error ? err.message : String(err) }),
    );
    const writeMarks = writeMarksIn(config.stateDir);
    const runner = new BackupRunner({
      observer,
      clock: this.deps.clock,
      log,
      pool: this.#pool,
      // Each driver's errors pass through its own isPermanent() on their way to the scheduler.
      hypervisors: this.deps.hypervisors,
      openDatastores,
      loadKeys: (id) => keys.load(id),
      scratchDir,
      restoreJournal,
      writeMarks,
      datastoreTimeoutMs: config.datastoreTimeoutSeconds * 1000,
      ...(store.coordination.shared
        ? {
            datastoreLocks: (id: number, mode: 'shared' | 'exclusive') =>
              store.coordination.lockDatastore(id, mode),
          }
        : {}),
    });
    const datastoreSetup = async (id: number) =>
      runner.datastore(datastoreToOpen(await datastoreRow(store.db, id)));
    // This daemon among those sharing the store: heartbeat, leader, requeue of daemons gone, fence.
    const membership = new Membership({
      store,
      clock,
      log,
      leaseMs: (config.db.backend === 'postgresql' ? config.db.leaseSeconds : 30) * 1000,
      name: `onebackupd ${process.pid} on ${hostname()}`,
      home: `${hostname()}:${config.stateDir}`,
      ctime: (s) => ctimeIn(s, config.timeZone),
      onLeading: (leading) => {
        if (!leading) return;
        scheduler?.schedulesChanged();
        this.#copies?.changed(true);
      },
      onFenced: (fenced, reason) => scheduler?.fence(fenced ? reason : undefined),
      onRequeued: () => void scheduler?.resync(),
      onBeat: () => scheduler?.beat(),
    });
    this.#membership = membership;
    const leading = () => membership.leading;
    store.coordination.onNotice((notice) => {
      scheduler?.noticed(notice);
      if (notice === 'copies') this.#copies?.changed();
    });
    store.coordination.onConnection((up) => {
      if (up) void scheduler?.resync();
    });
    // Copies of backups to their datastore's COPY_DATASTORE_ID, beside the backups (scheduler/copies.ts).
    this.#copies = new BackupCopies({ store, clock, log, engine: runner, leading });
    const operations = new VmOperations({
      copies: this.#copies,
      store,
      clock: this.deps.clock,
      log,
      engine: runner,
      timeZone: config.timeZone,
      ctime: (s) => ctimeIn(s, config.timeZone),
      observer,
    });
    // The scheduler and the job service need each other: the port forwards to the scheduler
    // once it exists (it is created below, before anything can call the port).
    const port = forwardingScheduler(() => scheduler);
    const serviceDeps: ServiceDeps = {
      timeZone: config.timeZone,
      scheduler: port,
      store: this.#store,
      clock: this.deps.clock,
      inspectDisk: this.deps.inspectDisk,
      discovery: vmDiscovery(this.deps.hypervisors),
      hypervisorDrivers: this.deps.hypervisors.names,
      datastoreDrivers: [...this.deps.datastores.keys()],
      defaultDatastoreBase: join(config.stateDir, 'datastores'),
      createDatastoreKey: (id) => keys.create(id),
      datastoreAccess: datastoreAccess(this.deps.datastores, keys, (ds) => openDatastores.get(ds)),
      closeDatastore: (id) => openDatastores.close(id),
      datastoreAnswering: (id) => probes.answering(id),
      dropManifests: async (datastoreId, paths) => {
        // The image's copies (marked DROPPED with it) go from their targets now too.
        this.#copies?.changed();
        try {
          const { driver } = await datastoreSetup(datastoreId);
          for (const p of paths) await driver.deleteManifest(p);
        } catch (err) {
          log.warn('cannot delete manifests; garbage collection will', {
            datastore: datastoreId,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      },
    };
    this.#vmBackups = new VmBackupService(serviceDeps, { restoreDir: join(config.stateDir, 'restores') });
    const users = new UserService(serviceDeps);
    const password = await users.bootstrap();
    if (password !== undefined) {
      writeFileSync(this.authFile, `oneadmin:${password}\n`, { mode: 0o600 });
      chmodSync(this.authFile, 0o600);
      log.info('created user oneadmin', { credentials_file: this.authFile });
    }
    const jobs = new BackupJobService(serviceDeps);
    scheduler = new JobScheduler({
      daemon: { id: membership.id, name: membership.name },
      leading,
      store: this.#store,
      clock: this.deps.clock,
      log,
      executor: operations,
      limits: { maxBackups: config.maxBackups, maxBackupsHost: config.maxBackupsHost },
      gates: { maxRestores: config.maxRestores, maxMaintenance: config.maxMaintenance },
      timeZone: config.timeZone,
      ctime: (s) => ctimeIn(s, config.timeZone),
      execute: (trx, row, trigger) => jobs.execute(trx, row, trigger),
      observer,
    });
    this.#scheduler = scheduler;
    // Before any backup writes again: datastores a killed backup was writing to are collected.
    await this.collectInterruptedWrites(store, runner, writeMarks);
    await membership.start(`${config.listenAddress}:${config.port}`);
    await scheduler.start();
    hostService = new HostService(serviceDeps);
    this.#copies.changed();
    const services: Services = {
      users,
      hosts: hostService,
      datastores: new DatastoreService(serviceDeps),
      vms: new VmService(serviceDeps),
      images: new ImageService(serviceDeps),
      jobs,
      owned: ownedCalls(serviceDeps),
      vmBackups: this.#vmBackups,
      clusters: new ClusterService(serviceDeps),
      elements: new ElementCache(),
      systemConfig: {
        maxBackups: config.maxBackups,
        maxBackupsHost: config.maxBackupsHost,
        maxTokenTime: MAX_TOKEN_TIME,
      },
      backupProgress: (vmId) => {
        const running = runner.running.get(vmId);
        if (running) return running;
        const queued = port.backupQueuedReason(vmId);
        if (queued !== undefined) return { startedAt: 0, bytesDone: 0, bytesTotal: 0, queued };
        // Dispatched, still setting up (datastore probe, identity, keys): running, nothing read yet.
        return port.hasBackup(vmId)
          ? { startedAt: epochSeconds(clock), bytesDone: 0, bytesTotal: 0 }
          : undefined;
      },
      version: VERSION.opennebula,
      now: () => this.deps.clock.now(),
      taskLog: (jobId, runId, vmId) => readTaskLog(store, jobId, runId, vmId),
    };
    this.startHostMonitor(services.hosts);
    probes.monitor(known, config.monitoringIntervalDatastore * 1000);
    const health = async (): Promise<readonly [number, string]> => {
      const report = await checkHealth({
        store,
        clock,
        scheduler: () =>
          scheduler && {
            heartbeatAt: scheduler.heartbeatAt,
            lastPassAt: scheduler.lastPassAt,
            running: scheduler.runningCount,
          },
        maxHeartbeatAgeMs: HEARTBEAT_MAX_AGE_MS,
        storeTimeoutMs: HEALTH_STORE_TIMEOUT_MS,
        datastores: () => probes.answers(),
        cluster: () => this.clusterState(),
      });
      return [report.status === 'unhealthy' ? 503 : 200, `${JSON.stringify(report)}\n`];
    };
    const scrape = async (): Promise<readonly [string, string]> => [
      metrics.contentType,
      await metrics.scrape(),
    ];
    this.#server = new ApiServer({
      services,
      log,
      maxRequestBytes: config.maxRequestBytes,
      // With METRICS_LISTEN, /metrics is only there (the API may face users, metrics may not).
      routes: new Map(config.metricsListen ? [] : [['/metrics', scrape]]),
      health,
    });
    const address = await this.#server.listen(config.listenAddress, config.port);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `http://${host}:${address.port}/RPC2`;
    this.#metricsUrl = `http://${host}:${address.port}/metrics`;
    if (config.metricsListen) {
      this.#metricsServer = new MetricsHttpServer(
        new Map<string, GetRoute>([
          ['/metrics', async () => [200, ...(await scrape())] as const],
          [
            '/health',
            async () => {
              const [status, body] = await health();
              return [status, 'application/json', body] as const;
            },
          ],
        ]),
        log,
      );
      const m = await this.#metricsServer.listen(config.metricsListen.address, config.metricsListen.port);
      this.#metricsUrl = `http://${m.family === 'IPv6' ? `[${m.address}]` : m.address}:${m.port}/metrics`;
    }
    log.info('started', {
      version: VERSION.onebackup,
      state_dir: config.stateDir,
      db: store.where,
      metrics: this.#metricsUrl,
      chunk_encryption: gcmImplementation,
    });
    return this.#url;
  }

  /**
   * Every MONITORING_INTERVAL_HOST seconds: hosts whose driver lists VMs (kvm with libvirt) are
   * synchronised and bare-QEMU VMs get the state QEMU reports. One pass at a time; problems are
   * logged once until they change.
   */
  private startHostMonitor(hosts: HostService): void {
    const every = this.deps.config.monitoringIntervalHost * 1000;
    if (every <= 0) return;
    const system = { uid: 0, gid: 0, uname: 'oneadmin', gname: 'oneadmin', isAdmin: true };
    let lastProblems = '';
    const pass = async () => {
      const r = await hosts.monitor(system).catch((err: unknown) => ({
        synced: 0,
        states: 0,
        problems: [err instanceof Error ? err.message : String(err)],
      }));
      const problems = r.problems.join('; ');
      if (problems !== lastProblems && problems !== '') this.deps.log.warn('host monitoring', { problems });
      lastProblems = problems;
      if (this.#server) this.#cancelMonitor = this.deps.clock.setTimeout(() => void pass(), every);
    };
    this.#cancelMonitor = this.deps.clock.setTimeout(() => void pass(), Math.min(every, 2000));
  }

  async stop(): Promise<void> {
    this.#cancelMonitor?.();
    this.#cancelMonitor = undefined;
    this.#probes?.stop();
    await this.#starting?.catch(() => undefined);
    const server = this.#server;
    const store = this.#store;
    const pool = this.#pool;
    this.#server = undefined;
    this.#store = undefined;
    this.#pool = undefined;
    await server?.close();
    await this.#metricsServer?.close();
    this.#metricsServer = undefined;
    await this.#scheduler?.stop(this.deps.config.shutdownGraceSeconds * 1000);
    this.#scheduler = undefined;
    await this.#membership?.stop();
    this.#membership = undefined;
    await this.#copies?.stop();
    this.#copies = undefined;
    await this.#outcomes?.flush();
    await this.#taskLog?.flush();
    await pool?.close();
    await this.#datastores?.closeAll().catch((err: unknown) =>
      this.deps.log.warn('cannot close datastore drivers', {
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    this.#datastores = undefined;
    await this.deps.hypervisors.close();
    await store?.close();
    this.#lock?.release();
    this.#lock = undefined;
  }
}
