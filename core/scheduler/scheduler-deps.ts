/**
 * What the scheduler needs from the rest of the daemon: the engine as it uses it (through
 * vm-operations.ts), the store, the clock, limits and the job service's run opener.
 */
import type { Clock } from '../clock.js';
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { RunTrigger } from '../model.js';
import type { VerifyBudget } from '../schedule/verify-settings.js';
import type { GcOutcome, RestoreOutcome, RestoreRequest, VerifyOutcome } from '../scheduler-port.js';
import type { Store, Tx } from '../store/db.js';
import type { BackupJobTable } from '../store/schema.js';
import type { GateLimits } from './operation-gates.js';
import type { DispatchPolicy, SlotLimits } from './types.js';
import type { BackupOptions, BackupResult, ScheduledVerifyOutcome } from './vm-operations.js';

/** The backup engine as the scheduler uses it. */
export interface BackupExecutor {
  backupVm(vmId: number, datastoreId: number, options: BackupOptions): Promise<BackupResult>;
  /** Bytes done and total of a running backup, for the task's progress. */
  progress(vmId: number): { bytesDone: number; bytesTotal: number } | undefined;
  restore(request: RestoreRequest): Promise<RestoreOutcome>;
  verify(datastoreId: number, scope: { imageId?: number; incrementId?: number }): Promise<VerifyOutcome>;
  gc(datastoreId: number): Promise<GcOutcome>;
  scheduledVerify(datastoreId: number, budget: VerifyBudget | undefined): Promise<ScheduledVerifyOutcome>;
}

export interface JobSchedulerDeps {
  /**
   * This daemon among those sharing the store: its claims carry the id, run records the name.
   * Claims hold MAX_BACKUPS and MAX_BACKUPS_HOST over every daemon.
   */
  readonly daemon: { readonly id: string; readonly name: string };
  /** Schedules and verify schedules fire on the leader only (absent: always). */
  readonly leading?: () => boolean;
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
