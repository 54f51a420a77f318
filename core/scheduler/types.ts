/**
 * The inputs and outputs of dispatch: which OUTDATED VM backups to start now, under the slot limits.
 *
 * These types describe one moment of the scheduler's state as plain readonly data, so the choice
 * (`pick.ts`) is a pure function of it and `now` and can be tested and benchmarked without a
 * daemon. `dispatch-index.ts` keeps the same state indexed for the daemon's hot path.
 *
 * Times are epoch seconds, as OpenNebula stores them.
 */
import type { Execution, VmSet } from '../model.js';

export type { Execution, VmSet } from '../model.js';

/**
 * MAX_BACKUPS and MAX_BACKUPS_HOST from onebackupd.conf. 0 means unlimited, as in oned.conf.
 * Every running backup counts, also ones started by hand, as OpenNebula counts VMs in BACKUP.
 */
export interface SlotLimits {
  readonly maxBackups: number;
  readonly maxBackupsHost: number;
}

/** One VM of a job, as the scheduler needs it: where it runs and which set it is in. */
export interface JobVm {
  readonly vmId: number;
  readonly hostId: number;
  /** Only for the "host node1 2/2" reason; the host is identified by hostId. */
  readonly hostName: string;
  readonly set: VmSet;
  /** Epoch seconds before which a retried VM may not start (RETRY_INTERVAL after its failure). */
  readonly notBefore?: number;
  /** `onebackupjob exclude`: the VM is left out of the current run. */
  readonly excluded?: boolean;
}

/** A backup job with the fields that decide its place in the queue. */
export interface CandidateJob {
  readonly id: number;
  /** PRIORITY, 0-99; higher goes first. */
  readonly priority: number;
  /** Epoch seconds when the job's current run was triggered; breaks priority ties (earliest first). */
  readonly outdatedSince: number;
  readonly execution: Execution;
  /** `onebackupjob pause`: queued VMs are held; running ones finish. */
  readonly paused: boolean;
  /** In BACKUP_VMS order, which is the order inside the job. */
  readonly vms: readonly JobVm[];
}

/**
 * A backup in progress: it holds one global slot and one slot of its host. `jobId` is absent for
 * a backup started by hand (`onevm backup`); with it, the backup also makes its job busy for
 * SEQUENTIAL, even if the VM has left the job's ONGOING set.
 */
export interface RunningBackup {
  readonly vmId: number;
  readonly hostId: number;
  readonly jobId?: number;
}

/**
 * `backfill` (default, SPEC.md decision 5): a free slot goes to the best eligible VM even when a
 * higher-priority VM waits on its host limit or on SEQUENTIAL.
 * `strict`: OpenNebula's rule: a job is considered only when no job of higher priority still has
 * OUTDATED VMs (paused jobs and excluded VMs do not count; VMs waiting for a retry do).
 */
export type DispatchPolicy = 'backfill' | 'strict';

export interface DispatchState {
  readonly jobs: readonly CandidateJob[];
  readonly running: readonly RunningBackup[];
  readonly limits: SlotLimits;
  /** Epoch seconds; compared with JobVm.notBefore. */
  readonly now: number;
  /** Default 'backfill'. */
  readonly policy?: DispatchPolicy;
}

/** One VM backup to start now. */
export interface Dispatch {
  readonly jobId: number;
  readonly vmId: number;
  readonly hostId: number;
}

/** Why an OUTDATED VM is not being started, for `onebackupjob show` and the API. */
export interface Waiting {
  readonly jobId: number;
  readonly vmId: number;
  /**
   * 1-based position of the VM among all OUTDATED VMs of the state in the global order (job rank,
   * then BACKUP_VMS order), counting the ones picked now and the paused or excluded ones, so a
   * VM's rank does not jump when a job is paused.
   */
  readonly rank: number;
  /** One of the texts built in reasons.ts. */
  readonly reason: string;
}

/**
 * The global order of jobs: higher priority first, then the job outdated earliest, then the lower
 * job ID (SPEC.md section 4.4). Negative when `a` goes before `b`.
 */
export function compareJobs(
  a: Pick<CandidateJob, 'id' | 'priority' | 'outdatedSince'>,
  b: Pick<CandidateJob, 'id' | 'priority' | 'outdatedSince'>,
): number {
  return b.priority - a.priority || a.outdatedSince - b.outdatedSince || a.id - b.id;
}

/** True when a limit of `limit` slots (0 = unlimited) has no room left at `used`. */
export function isFull(used: number, limit: number): boolean {
  return limit > 0 && used >= limit;
}
