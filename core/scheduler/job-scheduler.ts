/**
 * The daemon's scheduler loop (DESIGN.md section 5, issue 4): keeps the dispatch index in step
 * with the store, starts the VM backups the index picks, records their end in the VM sets and the
 * run's tasks, retries retryable failures after RETRY_INTERVAL, fires due schedules, reconciles
 * after a crash and drains on shutdown.
 *
 * Event-driven: a commit that changes a job (jobChanged), a finished backup, a retry time or a
 * schedule time runs one dispatch pass at once; passes never overlap. Every store change is one
 * transaction, so a kill at any moment leaves the sets and the runs consistent, and start()
 * moves any VM left ONGOING by a crash back to OUTDATED (or to ERROR when out of retries).
 */
import { epochSeconds } from '../clock.js';
import { ErrorCode, OneError } from '../errors.js';
import type { OperationProgress, ProgressWatch } from '../progress.js';
import type {
  GcOutcome,
  RestoreOutcome,
  RestoreRequest,
  SchedulerPort,
  VerifyOutcome,
  VmBackupRequest,
} from '../scheduler-port.js';
import { type Claim, cancelClaims, dropAllClaims, listClaims, releaseClaim } from '../store/daemons.js';
import {
  completeJobVm,
  dispatchJobVm,
  failJobVm,
  readJobForDispatch,
  requeueInterrupted,
} from '../store/job-vms.js';
import { allJobIds } from '../store/jobs.js';
import { settledWithin } from './bounded-wait.js';
import { DataOperations } from './data-operations.js';
import { DispatchIndex } from './dispatch-index.js';
import { classifyFailure, failureMessage, reportJobFailure } from './failure.js';
import { candidateJob } from './load-state.js';
import { CANCELLED_BY_USER, ManualBackups } from './manual-backups.js';
import { ProgressSaver, type TaskProgress } from './progress-saver.js';
import { ScheduleTimer } from './schedule-timer.js';
import type { JobSchedulerDeps } from './scheduler-deps.js';
import type { Dispatch, DispatchState } from './types.js';
import { VerifyTimer } from './verify-timer.js';
import type { BackupResult } from './vm-operations.js';

type VerifyScope = { imageId?: number; incrementId?: number };

/** How long aborted operations get to end at shutdown. */
const ABORTED_WAIT_MS = 15_000;

interface Started {
  readonly dispatch: Dispatch;
  readonly attempt: number;
  readonly maxRetries: number;
  readonly retryIntervalS: number;
  readonly controller: AbortController;
  /** Set inside the backup's record transaction: whether the job's run ended with it. */
  runEnded?: boolean;
}

export class JobScheduler implements SchedulerPort {
  readonly #deps: JobSchedulerDeps;
  readonly #index: DispatchIndex;
  readonly #dirty = new Set<number>();
  readonly #running = new Map<number, Started>();
  readonly #manual: ManualBackups;
  readonly #data: DataOperations;
  readonly #schedules: ScheduleTimer;
  /** Datastores' scheduled verify (VERIFY_INTERVAL). */
  readonly verifies: VerifyTimer;
  readonly #settled = new Map<number, Promise<void>>();
  #pass: Promise<void> | undefined;
  #again = false;
  #stopping = false;
  #started = false;
  #cancelRetryTimer: (() => void) | undefined;
  #retryTimerAt = Number.POSITIVE_INFINITY;
  /** Backups other daemons run (their claims): they hold slots in the index here too. */
  readonly #foreign = new Map<number, Claim>();
  /** The claims in the store may differ from #foreign: read them at the next pass. */
  #claimsDirty = false;
  /** Why this daemon does not dispatch (it cannot reach the state database); undefined when it does. */
  #fenced: string | undefined;
  readonly #progress: ProgressSaver;
  /** Last time a dispatch pass ran (epoch ms), for /health. */
  lastPassAt = 0;
  /** Last tick of the scheduler's timer loop (epoch ms, every few seconds), for /health. */
  heartbeatAt = 0;

  constructor(deps: JobSchedulerDeps) {
    this.#deps = deps;
    this.#index = new DispatchIndex(deps.limits, deps.policy ?? 'backfill');
    this.#progress = new ProgressSaver(
      deps,
      () => {
        const out: TaskProgress[] = [];
        for (const [vmId, s] of this.#running) {
          const p = deps.executor.progress(vmId);
          if (p)
            out.push({ jobId: s.dispatch.jobId, vmId, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal });
        }
        return out;
      },
      (nowMs) => {
        this.heartbeatAt = nowMs;
      },
    );
    this.#manual = new ManualBackups({
      ...deps,
      index: this.#index,
      settled: this.#settled,
      kick: () => this.kick(),
      daemonId: deps.daemon.id,
      claimRefused: () => {
        this.#claimsDirty = true;
      },
    });
    this.#data = new DataOperations(deps.gates, deps.executor, deps.log, deps.observer);
    this.#schedules = new ScheduleTimer({
      ...deps,
      fired: (jobId) => this.#dirty.add(jobId),
      passed: () => this.kick(),
    });
    this.verifies = new VerifyTimer({ ...deps, run: (ds, budget) => this.#data.scheduledVerify(ds, budget) });
  }

  /** Reconciles what a crash left, loads every job with pending VMs, fires due schedules. */
  async start(): Promise<void> {
    const { store } = this.#deps;
    const nowMs = this.#deps.clock.now();
    // Claims under this daemon's own ID that it does not run (none in a daemon, whose ID is new
    // at each start; a scheduler restarted on the same ID): abandoned.
    if (store.coordination.shared)
      await this.#releaseAbandonedClaims('interrupted: onebackupd stopped during the backup');
    const reconciled = await store.tx(async (trx) => {
      // Alone on the store (SQLite), no claim can be live: every ONGOING VM was interrupted.
      if (!store.coordination.shared) await dropAllClaims(trx);
      return requeueInterrupted(trx, nowMs, this.#deps.ctime(Math.floor(nowMs / 1000)));
    });
    if (reconciled > 0)
      this.#deps.log.warn('backups interrupted by a stop were requeued', { vms: reconciled });
    for (const id of await allJobIds(store.db)) this.#dirty.add(id);
    this.#claimsDirty = store.coordination.shared;
    this.#started = true;
    this.heartbeatAt = this.#deps.clock.now();
    this.#progress.start();
    this.kick();
    this.schedulesChanged();
  }

  /** Stops dispatching; running backups get graceMs to finish, then are aborted. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.heartbeatAt = 0;
    this.#cancelRetryTimer?.();
    this.#progress.stop();
    await this.#pass;
    await this.#schedules.stop();
    await this.verifies.stop();
    const { clock, log } = this.#deps;
    const all = () => Promise.all([...this.#settled.values()]);
    if (this.#settled.size > 0 && !(await settledWithin(clock, all(), graceMs))) {
      for (const s of this.#running.values()) s.controller.abort(new Error('onebackupd is stopping'));
      this.#manual.abortAll(new Error('onebackupd is stopping'));
    }
    // An aborted operation stuck on a storage that does not answer is left behind (requeued at start).
    const ended =
      (await settledWithin(clock, all(), ABORTED_WAIT_MS)) &&
      (await settledWithin(clock, this.#data.idle(), Math.max(graceMs, ABORTED_WAIT_MS)));
    if (!ended)
      log.warn('stopping with operations that did not end when aborted; the next start requeues them');
  }

  jobChanged(jobId: number): void {
    if (jobId < 0) return;
    this.#dirty.add(jobId);
    this.kick();
  }

  abort(vmIds: readonly number[]): void {
    for (const vm of vmIds) this.#running.get(vm)?.controller.abort(new Error(CANCELLED_BY_USER));
    const elsewhere = vmIds.filter((vm) => !this.#running.has(vm));
    if (elsewhere.length > 0 && this.#deps.store.coordination.shared) this.#cancelElsewhere(elsewhere);
  }

  async cancelVmBackup(vmId: number): Promise<'queued' | 'running' | undefined> {
    const here = await this.#manual.cancel(vmId);
    if (here !== undefined) return here;
    if (this.#foreign.get(vmId)?.jobId !== -1) return undefined;
    this.#cancelElsewhere([vmId]);
    return 'running';
  }

  /** The daemons running these backups abort them when they see the claims marked. */
  #cancelElsewhere(vmIds: readonly number[]): void {
    this.#deps.store
      .tx((trx) => cancelClaims(trx, vmIds))
      .catch((err: unknown) =>
        this.#deps.log.error('cannot ask other daemons to cancel backups', {
          vms: vmIds,
          error: failureMessage(err),
        }),
      );
  }

  /**
   * A notice committed by another daemon (pg-notices.ts): a job or its sets changed, claims were
   * taken, freed or marked cancelled, schedules changed.
   */
  noticed(notice: string): void {
    if (notice.startsWith('job:')) this.jobChanged(Number(notice.slice(4)));
    else if (notice === 'claims') {
      this.#claimsDirty = true;
      this.kick();
    } else if (notice === 'schedules') this.schedulesChanged();
  }

  /** Reads everything again at the next pass: notices may have been missed (a reconnect). Never rejects. */
  async resync(): Promise<void> {
    if (!this.#started) return;
    try {
      for (const id of await allJobIds(this.#deps.store.db)) this.#dirty.add(id);
    } catch (err) {
      // The next reconnect or heartbeat reloads again.
      this.#deps.log.warn('cannot reload the jobs', { error: failureMessage(err) });
    }
    this.#claimsDirty = this.#deps.store.coordination.shared;
    this.kick();
  }

  /** Catches up with claims (a missed notice costs at most one beat). */
  beat(): void {
    if (!this.#deps.store.coordination.shared) return;
    this.#claimsDirty = true;
    this.kick();
  }

  /**
   * Cannot reach the state database (membership.ts): no dispatching, and every running backup
   * aborted now, before another daemon may requeue it. With `undefined`: back to work; claims this
   * daemon still holds for backups it no longer runs go back to the queue.
   */
  fence(reason: string | undefined): void {
    const was = this.#fenced;
    this.#fenced = reason;
    if (reason !== undefined && was === undefined) {
      const error = new Error(`this onebackupd cannot reach the state database: ${reason}`);
      for (const s of this.#running.values()) s.controller.abort(error);
      this.#manual.abortAll(error);
      return;
    }
    if (reason === undefined && was !== undefined)
      void this.#releaseAbandonedClaims(
        'interrupted: this onebackupd lost the state database during the backup',
      ).then(() => this.resync());
  }

  /** This daemon's claims of backups it does not run go back to the queue (ended with `message`). */
  async #releaseAbandonedClaims(message: string): Promise<void> {
    const { store, daemon, clock, ctime, log } = this.#deps;
    try {
      const nowMs = clock.now();
      const mine = (await listClaims(store.db)).filter(
        (c) => c.daemonId === daemon.id && !this.#settled.has(c.vmId),
      );
      if (mine.length === 0) return;
      await store.tx(async (trx) => {
        await requeueInterrupted(
          trx,
          nowMs,
          ctime(Math.floor(nowMs / 1000)),
          mine.filter((c) => c.jobId >= 0).map((c) => ({ jobId: c.jobId, vmId: c.vmId })),
          message,
        );
        for (const c of mine) await releaseClaim(trx, c.vmId, daemon.id);
      });
      log.warn('requeued backups this daemon claimed but no longer runs', {
        vms: mine.map((c) => c.vmId),
      });
    } catch (err) {
      log.error('cannot requeue backups stopped when the state database was lost', {
        error: failureMessage(err),
      });
    }
  }

  /** Whether the VM's backup runs on another daemon (metrics count this daemon's own). */
  runsElsewhere(vmId: number): boolean {
    return this.#foreign.has(vmId);
  }

  waiting(jobId: number): readonly { vmId: number; rank: number; reason: string }[] {
    return this.#index
      .explain(this.#nowS())
      .filter((w) => w.jobId === jobId)
      .map((w) => ({ vmId: w.vmId, rank: w.rank, reason: w.reason }));
  }

  requestVmBackup(request: VmBackupRequest): void {
    if (this.#stopping)
      throw new OneError(ErrorCode.ACTION, 'onebackupd is stopping; try again once it is back');
    if (this.#fenced !== undefined)
      throw new OneError(
        ErrorCode.ACTION,
        `this onebackupd cannot reach the state database (${this.#fenced}); try another daemon or again later`,
      );
    if (this.hasBackup(request.vmId)) {
      throw new OneError(
        ErrorCode.ACTION,
        `Could not create a new backup for VM ${request.vmId}, a backup is already running`,
      );
    }
    this.#manual.request(request, this.#nowS());
    this.kick();
    const reason = this.backupQueuedReason(request.vmId);
    if (reason !== undefined)
      this.#deps.log.info('backup queued', { vm: request.vmId, datastore: request.datastoreId, reason });
  }

  hasBackup(vmId: number): boolean {
    return (
      this.#manual.has(vmId) ||
      this.#running.has(vmId) ||
      this.#foreign.has(vmId) ||
      this.#deps.executor.progress(vmId) !== undefined
    );
  }

  backupQueuedReason(vmId: number): string | undefined {
    return this.#manual.queuedReason(vmId, this.#nowS());
  }

  restore(request: RestoreRequest): Promise<RestoreOutcome> {
    return this.#data.restore(request);
  }

  verify(ds: number, scope: VerifyScope, watch?: ProgressWatch): Promise<VerifyOutcome> {
    return this.#data.verify(ds, scope, watch);
  }

  progress(watch: ProgressWatch): OperationProgress | undefined {
    return this.#data.progress(watch);
  }

  gc(datastoreId: number): Promise<GcOutcome> {
    return this.#data.gc(datastoreId);
  }

  /** A schedule (or a datastore's VERIFY_INTERVAL) was added, changed or deleted, or a run ended: fire what is due, rearm the timers. */
  schedulesChanged(): void {
    if (!this.#started || this.#stopping) return;
    this.#schedules.changed();
    this.verifies.changed();
  }

  /** The dispatch index as plain data (running backups, waiting VMs), for metrics. */
  dispatchState(): DispatchState {
    return this.#index.snapshot(this.#nowS());
  }

  /** VM backups running on this daemon, for metrics and /health. */
  get runningCount(): number {
    return this.#index.runningCount - this.#foreign.size;
  }

  /** Runs a dispatch pass now, or once more after the one in progress. */
  kick(): void {
    if (!this.#started || this.#stopping) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    this.#pass = this.#dispatchLoop()
      .catch((err: unknown) => this.#deps.log.error('dispatch failed', { error: failureMessage(err) }))
      .finally(() => {
        this.#pass = undefined;
        if (this.#again) this.kick();
      });
  }

  #nowS(): number {
    return epochSeconds(this.#deps.clock);
  }

  async #dispatchLoop(): Promise<void> {
    do {
      this.#again = false;
      this.lastPassAt = this.#deps.clock.now();
      if (this.#claimsDirty) await this.#refreshClaims();
      await this.#refreshDirty();
      if (this.#stopping || this.#fenced !== undefined) return;
      for (const d of this.#index.pick(this.#nowS())) {
        if (d.jobId < 0) await this.#manual.launch(d);
        else await this.#launch(d);
      }
    } while (this.#again && !this.#stopping);
    this.#armRetryTimer();
  }

  /**
   * Other daemons' claims become running backups in the index (so the limits and SEQUENTIAL hold
   * across daemons); claims they freed free their slots; this daemon's claims marked cancelled by
   * another daemon abort their backups here.
   */
  async #refreshClaims(): Promise<void> {
    this.#claimsDirty = false;
    if (!this.#deps.store.coordination.shared) return;
    const claims = await listClaims(this.#deps.store.db);
    const seen = new Set<number>();
    for (const c of claims) {
      if (c.daemonId === this.#deps.daemon.id) {
        if (c.cancelled) {
          this.#running.get(c.vmId)?.controller.abort(new Error(CANCELLED_BY_USER));
          this.#manual.abortRunning(c.vmId);
        }
        continue;
      }
      seen.add(c.vmId);
      if (this.#foreign.has(c.vmId) || this.#settled.has(c.vmId)) continue;
      this.#foreign.set(c.vmId, c);
      this.#index.started({ vmId: c.vmId, hostId: c.hostId, ...(c.jobId >= 0 ? { jobId: c.jobId } : {}) });
    }
    for (const [vmId, c] of this.#foreign) {
      if (seen.has(vmId)) continue;
      this.#foreign.delete(vmId);
      this.#index.finished(vmId);
      if (c.jobId >= 0) this.#dirty.add(c.jobId);
    }
  }

  async #refreshDirty(): Promise<void> {
    const ids = [...this.#dirty];
    this.#dirty.clear();
    if (ids.length === 0) return;
    const jobs = await this.#deps.store.tx(async (trx) => {
      const out = [];
      for (const id of ids) {
        const read = await readJobForDispatch(trx, id);
        out.push({ id, job: read && candidateJob(read) });
      }
      return out;
    });
    for (const { id, job } of jobs) {
      if (job && job.vms.length > 0) this.#index.upsertJob(job);
      else this.#index.removeJob(id);
    }
  }

  async #launch(d: Dispatch): Promise<void> {
    const nowMs = this.#deps.clock.now();
    const { daemon, limits } = this.#deps;
    const start = await this.#deps.store.tx((trx) =>
      dispatchJobVm(trx, d.jobId, d.vmId, d.hostId, nowMs, {
        daemonId: daemon.id,
        daemonName: daemon.name,
        limits,
      }),
    );
    if (!start) {
      // The store moved on (cancel, update) between the refresh and now: re-read the job.
      this.#index.finished(d.vmId);
      this.#dirty.add(d.jobId);
      this.#again = true;
      return;
    }
    if (!start.started) {
      // Another daemon's backups fill a limit (or run this VM): learn their claims; the VM waits
      // in the index as ONGOING until its job is read again at the next pass (a freed claim's
      // notice or the next beat), so this does not spin.
      this.#index.finished(d.vmId);
      this.#dirty.add(d.jobId);
      this.#claimsDirty = true;
      return;
    }
    const { settings } = start;
    const started: Started = {
      dispatch: d,
      attempt: start.attempt,
      maxRetries: settings.maxRetries,
      retryIntervalS: settings.retryIntervalS,
      controller: new AbortController(),
    };
    this.#running.set(d.vmId, started);
    this.#deps.log.info('backup started', {
      job: d.jobId,
      vm: d.vmId,
      host: d.hostId,
      attempt: start.attempt,
    });
    const work =
      settings.datastoreId === undefined
        ? Promise.reject(
            new OneError(
              ErrorCode.ACTION,
              `backup job ${d.jobId} has no DATASTORE_ID; set one with: onebackupjob update ${d.jobId} -a`,
            ),
          )
        : this.#deps.executor.backupVm(d.vmId, settings.datastoreId, {
            reset: settings.reset,
            mode: settings.mode,
            keepLast: settings.keepLast,
            fsFreeze: settings.fsFreeze,
            incrementMode: settings.incrementMode,
            onFreezeFailure: settings.onFreezeFailure,
            jobId: d.jobId,
            owner: start.owner,
            signal: started.controller.signal,
            alsoRecord: async (trx, bytes) => {
              started.runEnded = await completeJobVm(trx, {
                daemonId: daemon.id,
                jobId: d.jobId,
                vmId: d.vmId,
                nowMs: this.#deps.clock.now(),
                ...bytes,
              });
            },
          });
    const settled = work
      .then(
        (result) => this.#finish(started, result, undefined),
        (err: unknown) => this.#finish(started, undefined, err),
      )
      .catch((err: unknown) =>
        this.#deps.log.error('cannot record the end of a backup; the next start will requeue it', {
          job: d.jobId,
          vm: d.vmId,
          error: failureMessage(err),
        }),
      )
      .finally(() => {
        this.#running.delete(d.vmId);
        this.#settled.delete(d.vmId);
        this.#index.finished(d.vmId);
        this.#dirty.add(d.jobId);
        this.kick();
      });
    this.#settled.set(d.vmId, settled);
  }

  async #finish(started: Started, result: BackupResult | undefined, err: unknown): Promise<void> {
    const { jobId, vmId } = started.dispatch;
    if (result) {
      // Recorded with the backup itself, in one transaction (completeJobVm).
      this.#deps.log.info('backup done', { job: jobId, vm: vmId, image: result.imageId });
      if (started.runEnded) this.schedulesChanged();
      return;
    }
    const nowMs = this.#deps.clock.now();
    const kind = classifyFailure(err, started.controller.signal.aborted);
    const message = failureMessage(err);
    const failed = await this.#deps.store.tx((trx) =>
      failJobVm(trx, {
        daemonId: this.#deps.daemon.id,
        jobId,
        vmId,
        hostId: started.dispatch.hostId,
        attempt: started.attempt,
        maxRetries: started.maxRetries,
        retryIntervalS: started.retryIntervalS,
        kind,
        message,
        nowMs,
        ctime: this.#deps.ctime(Math.floor(nowMs / 1000)),
      }),
    );
    reportJobFailure(
      this.#deps.log,
      this.#deps.observer,
      { jobId, vmId, attempt: started.attempt, kind, message },
      failed,
    );
    if (failed.runEnded) this.schedulesChanged();
  }

  #armRetryTimer(): void {
    // From the index's retry heap: a snapshot here would walk every VM on every pass.
    const next = this.#index.nextRetryAt() ?? Number.POSITIVE_INFINITY;
    if (next === this.#retryTimerAt) return;
    this.#cancelRetryTimer?.();
    this.#retryTimerAt = next;
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, next * 1000 - this.#deps.clock.now());
    this.#cancelRetryTimer = this.#deps.clock.setTimeout(() => {
      this.#retryTimerAt = Number.POSITIVE_INFINITY;
      this.kick();
    }, delay + 5);
  }
}
