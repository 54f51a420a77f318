/**
 * What the services tell the scheduler, and ask it, after their transactions commit (a leaf
 * module: services and the scheduler both import it, neither imports the other). Every
 * data-moving operation goes through it, so backups, restores, verify and GC all wait for a slot
 * of their kind instead of running at once.
 */
import type { DiskFormat } from './model.js';
import type { OperationProgress, ProgressCounter, ProgressWatch } from './progress.js';

/** A backup of a VM in no job (`onevm backup`). */
export interface VmBackupRequest {
  readonly vmId: number;
  readonly hostId: number;
  readonly hostName: string;
  readonly datastoreId: number;
  readonly reset: boolean;
  /** Who asked: retention after the backup drops only images they may MANAGE. */
  readonly owner: { readonly uid: number; readonly gid: number; readonly isAdmin: boolean };
}

/** A restore of an image increment: into `dir`, or into the files `targetFor` names. */
export interface RestoreRequest {
  readonly imageId: number;
  /** The VM the image is a backup of (for logs and metrics). */
  readonly vmId: number;
  readonly incrementId: number | undefined;
  readonly diskId: number | undefined;
  readonly dir: string;
  readonly targetFor?: (diskId: number, format: DiskFormat) => string;
  /** Continue the caller's interrupted restore of this backup (its directory) instead. */
  readonly resume?: boolean;
  /** Read the backup from this datastore: the image's own, or one holding its copy (COPY_DATASTORE_ID). */
  readonly datastoreId?: number | undefined;
  /** Who asks: a resume continues only their own restores (any, for an admin). */
  readonly who?: { readonly uid: number; readonly isAdmin: boolean };
  /** Follow it under this tag (`one.progress.info`). */
  readonly watch?: ProgressWatch | undefined;
  /** The counter the engine updates (set by the scheduler for a followed restore). */
  readonly progress?: ProgressCounter | undefined;
}

export interface RestoreOutcome {
  readonly manifest: {
    readonly disks: readonly {
      readonly diskId: number;
      readonly format: DiskFormat;
      readonly virtualSize: number;
    }[];
  };
  /** The files written, by disk ID. */
  readonly files: ReadonlyMap<number, string>;
  /** Chunks a resumed restore found already written. */
  readonly chunksSkipped?: number;
  /** How the disks were made durable before the restore returned. */
  readonly durability?: string;
  /** Set when the backup was read from a copy: which, and why (the primary failed: its error). */
  readonly fromCopy?: string | undefined;
}

export interface VerifyOutcome {
  readonly chunksChecked: number;
  /** Bad chunks moved aside by this verify. */
  readonly chunksQuarantined?: number;
  readonly problems: readonly {
    readonly imageId: number;
    readonly incrementId: number;
    readonly diskId: number;
    readonly message: string;
  }[];
}

export interface GcOutcome {
  readonly chunksKept: number;
  readonly chunksRemoved: number;
  /** Manifests in the datastore no image references: kept, with their chunks, for import. */
  readonly unknownManifests: readonly string[];
}

export interface SchedulerPort {
  /** The job's sets, VMs, priority, mode or pause changed (or it was deleted). */
  jobChanged(jobId: number): void;
  /** A schedule was added, changed or deleted. */
  schedulesChanged(): void;
  /** Abort the running backups of these VMs (cancel); they end as the store already says. */
  abort(vmIds: readonly number[]): void;
  /**
   * `onevm backup-cancel` of a VM in no job: its queued backup leaves the queue, or its running
   * one is aborted. Undefined when it has none.
   */
  cancelVmBackup(vmId: number): Promise<'queued' | 'running' | undefined>;
  /** For every OUTDATED VM of the job that is not running: its rank and why it waits. */
  waiting(jobId: number): readonly { vmId: number; rank: number; reason: string }[];
  /**
   * Queues a backup of a VM in no job behind the same slots as job backups (MAX_BACKUPS,
   * MAX_BACKUPS_HOST). Throws when the VM already has a backup queued or running.
   */
  requestVmBackup(request: VmBackupRequest): void;
  /** Whether the VM has a backup queued or running (job or not). */
  hasBackup(vmId: number): boolean;
  /** Why the VM's queued backup waits; undefined when none is queued. */
  backupQueuedReason(vmId: number): string | undefined;
  /** Runs when a restore slot is free (MAX_RESTORES). */
  restore(request: RestoreRequest): Promise<RestoreOutcome>;
  /** Run when a verify/GC slot is free (MAX_MAINTENANCE). */
  verify(
    datastoreId: number,
    scope: { imageId?: number; incrementId?: number },
    watch?: ProgressWatch,
  ): Promise<VerifyOutcome>;
  gc(datastoreId: number): Promise<GcOutcome>;
  /** A restore or verify the user tagged, while it waits or runs. */
  progress(watch: ProgressWatch): OperationProgress | undefined;
}

function notRunning(): never {
  throw new Error('onebackupd is not running its scheduler');
}

/** A scheduler that does nothing: for tools that open the store without running backups. */
const idleScheduler: SchedulerPort = Object.freeze({
  jobChanged: () => undefined,
  schedulesChanged: () => undefined,
  abort: () => undefined,
  cancelVmBackup: async () => undefined,
  waiting: () => [],
  requestVmBackup: notRunning,
  hasBackup: () => false,
  backupQueuedReason: () => undefined,
  restore: notRunning,
  verify: notRunning,
  gc: notRunning,
  progress: () => undefined,
});

/**
 * A port that forwards to the scheduler `current()` returns: the job service and the scheduler
 * need each other, so the service gets this before the scheduler exists.
 */
export function forwardingScheduler(current: () => SchedulerPort | undefined): SchedulerPort {
  const now = () => current() ?? idleScheduler;
  return {
    jobChanged: (id) => current()?.jobChanged(id),
    schedulesChanged: () => current()?.schedulesChanged(),
    abort: (vms) => current()?.abort(vms),
    cancelVmBackup: async (vm) => current()?.cancelVmBackup(vm),
    waiting: (id) => current()?.waiting(id) ?? [],
    requestVmBackup: (r) => now().requestVmBackup(r),
    hasBackup: (vm) => current()?.hasBackup(vm) ?? false,
    backupQueuedReason: (vm) => current()?.backupQueuedReason(vm),
    restore: (r) => now().restore(r),
    verify: (ds, scope, watch) => now().verify(ds, scope, watch),
    gc: (ds) => now().gc(ds),
    progress: (watch) => current()?.progress(watch),
  };
}
