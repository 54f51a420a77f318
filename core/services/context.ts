import type { Clock } from '../clock.js';
import type { Requester } from '../permissions.js';
import type { Store } from '../store/db.js';
import type { DiskInspector } from './disk-inspector.js';

/** What every service needs, passed in by the daemon (tests pass their own). */
export interface ServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  /** Reads a disk file's format and virtual size (the fs hypervisor driver in production). */
  readonly inspectDisk: DiskInspector;
  /** Hypervisor driver names hosts may use (VM_MAD). */
  readonly hypervisorDrivers: readonly string[];
  /** Datastore driver names backup datastores may use (DS_MAD). */
  readonly datastoreDrivers: readonly string[];
  /** Where datastores without BASE_PATH keep their data. */
  readonly defaultDatastoreBase: string;
  /** Makes the encryption key of a new encrypted datastore (kept outside the database). */
  readonly createDatastoreKey: (datastoreId: number) => Promise<void>;
  /** Closes a deleted datastore's driver if it is open (the daemon keeps one per datastore). */
  readonly closeDatastore?: (datastoreId: number) => Promise<void>;
  /** Deletes manifests from a datastore after their records are gone (best effort, logged). */
  readonly dropManifests: (datastoreId: number, paths: readonly string[]) => Promise<void>;
  /** The configured time zone (schedules, ctime strings). */
  readonly timeZone: string;
  /** Told after a transaction changed what the scheduler acts on. */
  readonly scheduler: SchedulerPort;
}

/** What the services tell the scheduler, and ask it, after their transactions commit. */
export interface SchedulerPort {
  /** The job's sets, VMs, priority, mode or pause changed (or it was deleted). */
  jobChanged(jobId: number): void;
  /** A schedule was added, changed or deleted. */
  schedulesChanged(): void;
  /** Abort the running backups of these VMs (cancel); they end as the store already says. */
  abort(vmIds: readonly number[]): void;
  /** For every OUTDATED VM of the job that is not running: its rank and why it waits. */
  waiting(jobId: number): readonly { vmId: number; rank: number; reason: string }[];
  /** A backup outside any job (`onevm backup`) started or ended: it holds slots meanwhile. */
  backupStarted(vmId: number, hostId: number): void;
  backupFinished(vmId: number): void;
}

/**
 * A port that forwards to the scheduler `current()` returns: the job service and the scheduler
 * need each other, so the service gets this before the scheduler exists.
 */
export function forwardingScheduler(current: () => SchedulerPort | undefined): SchedulerPort {
  return {
    jobChanged: (id) => current()?.jobChanged(id),
    schedulesChanged: () => current()?.schedulesChanged(),
    abort: (vms) => current()?.abort(vms),
    waiting: (id) => current()?.waiting(id) ?? [],
    backupStarted: (vm, host) => current()?.backupStarted(vm, host),
    backupFinished: (vm) => current()?.backupFinished(vm),
  };
}

/** A scheduler that does nothing: for tools that open the store without running backups. */
export const idleScheduler: SchedulerPort = Object.freeze({
  jobChanged: () => undefined,
  schedulesChanged: () => undefined,
  abort: () => undefined,
  waiting: () => [],
  backupStarted: () => undefined,
  backupFinished: () => undefined,
});

/** One authenticated call. */
export interface Caller {
  readonly who: Requester;
}
