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
import { type Clock, epochSeconds } from '../clock.js';
import { ErrorCode, OneError } from '../errors.js';
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { RunTrigger } from '../model.js';
import { afterRun, isDue, isFinished } from '../schedule/next-time.js';
import type {
  GcOutcome,
  RestoreOutcome,
  RestoreRequest,
  SchedulerPort,
  VerifyOutcome,
  VmBackupRequest,
} from '../scheduler-port.js';
import type { Store, Tx } from '../store/db.js';
import {
  completeJobVm,
  dispatchJobVm,
  failJobVm,
  readJobForDispatch,
  requeueInterrupted,
} from '../store/job-vms.js';
import { allJobIds, findJob } from '../store/jobs.js';
import { saveTaskProgress } from '../store/runs.js';
import {
  allJobSchedules,
  markScheduleFired,
  schedRowToFields,
  setScheduleMessage,
} from '../store/schedules.js';
import type { BackupJobTable } from '../store/schema.js';
import { setVmError } from '../store/vms.js';
import { DispatchIndex } from './dispatch-index.js';
import { classifyFailure, failureMessage } from './failure.js';
import { candidateJob } from './load-state.js';
import { type GateLimits, OperationGates } from './operation-gates.js';
import type { Dispatch, DispatchPolicy, DispatchState, SlotLimits } from './types.js';
import type { BackupOptions, BackupResult } from './vm-operations.js';

/** The backup engine as the scheduler uses it. */
export interface BackupExecutor {
  backupVm(vmId: number, datastoreId: number, options: BackupOptions): Promise<BackupResult>;
  /** Bytes done and total of a running backup, for the task's progress. */
  progress(vmId: number): { bytesDone: number; bytesTotal: number } | undefined;
  restore(request: RestoreRequest): Promise<RestoreOutcome>;
  verify(datastoreId: number, scope: { imageId?: number; incrementId?: number }): Promise<VerifyOutcome>;
  gc(datastoreId: number): Promise<GcOutcome>;
}

export interface JobSchedulerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly executor: BackupExecutor;
  readonly limits: SlotLimits;
  /** MAX_RESTORES and MAX_MAINTENANCE (restores; verify and GC). */
  readonly gates: GateLimits;
  readonly policy?: DispatchPolicy;
  readonly timeZone: string;
  /** ctime()-style time for ERROR attributes and schedule messages. */
  readonly ctime: (epochS: number) => string;
  /** Starts a run of the job (BackupJobService.execute); throws when a run is pending. */
  readonly execute: (trx: Tx, job: BackupJobTable, trigger: RunTrigger) => Promise<void>;
  /** Told of failed and retried backups and of restores (metrics); successes are reported by the runner. */
  readonly observer?: BackupObserver;
}

/** A `onevm backup` queued or running: a one-VM pseudo-job of the dispatch index (negative ID). */
interface ManualBackup {
  readonly queueId: number;
  readonly request: VmBackupRequest;
  readonly controller: AbortController;
}

/**
 * Queued `onevm backup` requests rank above every job (PRIORITY is at most 99): an operator asked
 * for them now, as OpenNebula starts them at once; they still wait for MAX_BACKUPS(_HOST) slots.
 */
const MANUAL_PRIORITY = 100;

interface Started {
  readonly dispatch: Dispatch;
  readonly attempt: number;
  readonly maxRetries: number;
  readonly retryIntervalS: number;
  readonly controller: AbortController;
  /** Set inside the backup's record transaction: whether the job's run ended with it. */
  runEnded?: boolean;
}

const SCHEDULE_RECHECK_MS = 60 * 60 * 1000;
const PROGRESS_SAVE_MS = 2000;

export class JobScheduler implements SchedulerPort {
  readonly #deps: JobSchedulerDeps;
  readonly #index: DispatchIndex;
  readonly #dirty = new Set<number>();
  readonly #running = new Map<number, Started>();
  readonly #manual = new Map<number, ManualBackup>();
  readonly #manualByVm = new Map<number, ManualBackup>();
  #manualSeq = 0;
  readonly #gates: OperationGates;
  readonly #settled = new Map<number, Promise<void>>();
  #pass: Promise<void> | undefined;
  #again = false;
  #schedules: Promise<void> | undefined;
  #schedulesAgain = false;
  #stopping = false;
  #started = false;
  #cancelScheduleTimer: (() => void) | undefined;
  #cancelRetryTimer: (() => void) | undefined;
  #retryTimerAt = Number.POSITIVE_INFINITY;
  #cancelProgressTimer: (() => void) | undefined;
  /** Last time a dispatch pass ran (epoch ms), for /health. */
  lastPassAt = 0;
  /** Last tick of the scheduler's timer loop (epoch ms, every few seconds), for /health. */
  heartbeatAt = 0;

  constructor(deps: JobSchedulerDeps) {
    this.#deps = deps;
    this.#index = new DispatchIndex(deps.limits, deps.policy ?? 'backfill');
    this.#gates = new OperationGates(deps.gates);
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
    this.#saveProgressSoon();
    this.kick();
    this.schedulesChanged();
  }

  /** Stops dispatching; running backups get graceMs to finish, then are aborted. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.heartbeatAt = 0;
    this.#cancelScheduleTimer?.();
    this.#cancelRetryTimer?.();
    this.#cancelProgressTimer?.();
    await this.#pass;
    await this.#schedules;
    const all = () => Promise.all([...this.#settled.values()]);
    if (this.#settled.size > 0) {
      let cancelGrace: (() => void) | undefined;
      const grace = new Promise<void>((resolve) => {
        cancelGrace = this.#deps.clock.setTimeout(resolve, graceMs);
      });
      await Promise.race([all(), grace]);
      cancelGrace?.();
      for (const s of this.#running.values()) s.controller.abort(new Error('onebackupd is stopping'));
      for (const m of this.#manual.values()) m.controller.abort(new Error('onebackupd is stopping'));
      await all();
    }
    await this.#gates.idle();
  }

  jobChanged(jobId: number): void {
    if (jobId < 0) return;
    this.#dirty.add(jobId);
    this.kick();
  }

  abort(vmIds: readonly number[]): void {
    for (const vm of vmIds) this.#running.get(vm)?.controller.abort(new Error('backup cancelled by user'));
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
    this.#manualSeq += 1;
    const m: ManualBackup = { queueId: -this.#manualSeq, request, controller: new AbortController() };
    this.#manual.set(m.queueId, m);
    this.#manualByVm.set(request.vmId, m);
    this.#index.upsertJob({
      id: m.queueId,
      priority: MANUAL_PRIORITY,
      outdatedSince: this.#nowS(),
      execution: 'SEQUENTIAL',
      paused: false,
      vms: [{ vmId: request.vmId, hostId: request.hostId, hostName: request.hostName, set: 'OUTDATED' }],
    });
    this.kick();
    const reason = this.backupQueuedReason(request.vmId);
    if (reason !== undefined)
      this.#deps.log.info('backup queued', { vm: request.vmId, datastore: request.datastoreId, reason });
  }

  hasBackup(vmId: number): boolean {
    return (
      this.#manualByVm.has(vmId) ||
      this.#running.has(vmId) ||
      this.#deps.executor.progress(vmId) !== undefined
    );
  }

  backupQueuedReason(vmId: number): string | undefined {
    const m = this.#manualByVm.get(vmId);
    if (m === undefined || this.#settled.has(vmId)) return undefined;
    return this.#index.explain(this.#nowS()).find((w) => w.jobId === m.queueId)?.reason ?? 'queued';
  }

  restore(request: RestoreRequest): Promise<RestoreOutcome> {
    const { log, observer, executor } = this.#deps;
    const vm = request.vmId;
    return this.#gates.run(
      'restore',
      async () => {
        try {
          const result = await executor.restore(request);
          log.info('restore done', { vm, image: request.imageId });
          observer?.restoreFinished({ vmId: vm, ok: true });
          return result;
        } catch (err) {
          log.error('restore failed', { vm, image: request.imageId, error: failureMessage(err) });
          observer?.restoreFinished({ vmId: vm, ok: false });
          throw err;
        }
      },
      (reason) => log.info('restore queued', { vm, image: request.imageId, reason }),
    );
  }

  verify(datastoreId: number, scope: { imageId?: number; incrementId?: number }): Promise<VerifyOutcome> {
    return this.#gates.run(
      'maintenance',
      () => this.#deps.executor.verify(datastoreId, scope),
      (reason) => this.#deps.log.info('verify queued', { datastore: datastoreId, reason }),
    );
  }

  gc(datastoreId: number): Promise<GcOutcome> {
    return this.#gates.run(
      'maintenance',
      () => this.#deps.executor.gc(datastoreId),
      (reason) => this.#deps.log.info('garbage collection queued', { datastore: datastoreId, reason }),
    );
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
        if (d.jobId < 0) this.#launchManual(d);
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
            jobId: d.jobId,
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

  /** Starts a queued `onevm backup`; its outcome clears or sets the VM's ERROR with the record. */
  #launchManual(d: Dispatch): void {
    const m = this.#manual.get(d.jobId);
    if (m === undefined) {
      this.#index.finished(d.vmId);
      this.#index.removeJob(d.jobId);
      return;
    }
    const { vmId, datastoreId, reset } = m.request;
    const { store, clock, log, observer } = this.#deps;
    const ctimeNow = () => this.#deps.ctime(epochSeconds(clock));
    log.info('backup started', { vm: vmId, host: d.hostId });
    const settled = this.#deps.executor
      .backupVm(vmId, datastoreId, {
        reset,
        signal: m.controller.signal,
        alsoRecord: (trx) => setVmError(trx, vmId, undefined),
      })
      .then(
        () => undefined,
        async (err: unknown) => {
          const message = failureMessage(err);
          log.error('backup failed', { vm: vmId, error: message });
          observer?.backupFailed({
            vmId,
            jobId: -1,
            reason: classifyFailure(err, m.controller.signal.aborted),
          });
          await store.tx((trx) => setVmError(trx, vmId, `${ctimeNow()} : [backup] ${message}`));
        },
      )
      .catch((err: unknown) =>
        log.error('cannot record the end of a backup', { vm: vmId, error: failureMessage(err) }),
      )
      .finally(() => {
        this.#settled.delete(vmId);
        this.#manual.delete(m.queueId);
        this.#manualByVm.delete(vmId);
        this.#index.finished(vmId);
        this.#index.removeJob(m.queueId);
        this.kick();
      });
    this.#settled.set(vmId, settled);
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
    const observer = this.#deps.observer;
    if (failed.outcome === 'stopped') {
      this.#deps.log.info('backup stopped', { job: jobId, vm: vmId, reason: message });
      observer?.backupFailed({ jobId, vmId, reason: kind === 'aborted' ? 'cancelled' : 'permanent' });
    } else if (failed.outcome === 'retry') {
      observer?.backupFailed({ jobId, vmId, reason: kind });
      observer?.retried({ jobId, vmId });
      this.#deps.log.warn('backup failed, will retry', {
        job: jobId,
        vm: vmId,
        attempt: started.attempt,
        error: message,
      });
    } else {
      observer?.backupFailed({ jobId, vmId, reason: kind });
      this.#deps.log.error('backup failed', {
        job: jobId,
        vm: vmId,
        attempt: started.attempt,
        error: failed.text,
      });
    }
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

  /** Progress of running tasks saved every few seconds, so `runs` shows bytes and speed. */
  #saveProgressSoon(): void {
    if (this.#stopping) return;
    this.#cancelProgressTimer = this.#deps.clock.setTimeout(() => {
      this.heartbeatAt = this.#deps.clock.now();
      void this.#saveProgress().finally(() => this.#saveProgressSoon());
    }, PROGRESS_SAVE_MS);
  }

  async #saveProgress(): Promise<void> {
    if (this.#running.size === 0) return;
    try {
      const progress: { jobId: number; vmId: number; bytesDone: number; bytesTotal: number }[] = [];
      for (const [vmId, s] of this.#running) {
        const p = this.#deps.executor.progress(vmId);
        if (p) progress.push({ jobId: s.dispatch.jobId, vmId, ...p });
      }
      await this.#deps.store.tx((trx) => saveTaskProgress(trx, progress));
    } catch (err) {
      this.#deps.log.warn('cannot save backup progress', { error: failureMessage(err) });
    }
  }

  /** Fires due schedules now (once more after the pass in progress), then arms the next timer. */
  schedulesChanged(): void {
    if (!this.#started || this.#stopping) return;
    if (this.#schedules) {
      this.#schedulesAgain = true;
      return;
    }
    this.#schedules = this.#fireSchedules()
      .catch((err: unknown) => this.#deps.log.error('schedules failed', { error: failureMessage(err) }))
      .finally(() => {
        this.#schedules = undefined;
        if (this.#schedulesAgain) {
          this.#schedulesAgain = false;
          this.schedulesChanged();
        }
      });
  }

  async #fireSchedules(): Promise<void> {
    const { store, timeZone } = this.#deps;
    const rows = await allJobSchedules(store.db);
    // Read after the await: a pass that waited must not act on the time it was asked at.
    const nowS = this.#nowS();
    const fired = new Set<number>();
    let next = Number.POSITIVE_INFINITY;
    for (const row of rows) {
      const fields = schedRowToFields(row);
      if (isDue(fields, row.done, nowS)) {
        if (fired.has(row.parent_id)) continue;
        fired.add(row.parent_id);
        const outcome = await store.tx(async (trx) => {
          const job = await findJob(trx, row.parent_id);
          if (!job) return 'gone';
          try {
            await this.#deps.execute(trx, job, 'schedule');
          } catch (err) {
            await setScheduleMessage(trx, row.id, `${this.#deps.ctime(nowS)} : ${failureMessage(err)}`);
            return 'busy';
          }
          const after = afterRun(fields, nowS, timeZone);
          await markScheduleFired(trx, row, after.fields, after.done);
          if (!after.finished) next = Math.min(next, after.fields.time);
          return 'fired';
        });
        this.#deps.log.info('schedule due', { job: row.parent_id, schedule: row.id, outcome });
        if (outcome === 'fired') this.#dirty.add(row.parent_id);
      } else if (!isFinished(fields, row.done, nowS) && fields.time > nowS) {
        next = Math.min(next, fields.time);
      }
    }
    // Every job fired in this pass is dispatched together, by priority, not by schedule order.
    this.kick();
    this.#cancelScheduleTimer?.();
    this.#cancelScheduleTimer = undefined;
    if (this.#stopping) return;
    const delay = Number.isFinite(next)
      ? Math.min(SCHEDULE_RECHECK_MS, Math.max(0, next * 1000 - this.#deps.clock.now()) + 5)
      : SCHEDULE_RECHECK_MS;
    this.#cancelScheduleTimer = this.#deps.clock.setTimeout(() => this.schedulesChanged(), delay);
  }
}
