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
    const reconciled = await store.tx((trx) =>
      requeueInterrupted(trx, nowMs, this.#deps.ctime(Math.floor(nowMs / 1000))),
    );
    if (reconciled > 0)
      this.#deps.log.warn('backups interrupted by a stop were requeued', { vms: reconciled });
    for (const id of await allJobIds(store.db)) this.#dirty.add(id);
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
  }

  cancelVmBackup(vmId: number): Promise<'queued' | 'running' | undefined> {
    return this.#manual.cancel(vmId);
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
      this.#manual.has(vmId) || this.#running.has(vmId) || this.#deps.executor.progress(vmId) !== undefined
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

  /** Running VM backups of jobs, for metrics and /health. */
  get runningCount(): number {
    return this.#index.runningCount;
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
      await this.#refreshDirty();
      if (this.#stopping) return;
      for (const d of this.#index.pick(this.#nowS())) {
        if (d.jobId < 0) this.#manual.launch(d);
        else await this.#launch(d);
      }
    } while (this.#again && !this.#stopping);
    this.#armRetryTimer();
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
    const start = await this.#deps.store.tx((trx) => dispatchJobVm(trx, d.jobId, d.vmId, d.hostId, nowMs));
    if (!start) {
      // The store moved on (cancel, update) between the refresh and now: re-read the job.
      this.#index.finished(d.vmId);
      this.#dirty.add(d.jobId);
      this.#again = true;
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
