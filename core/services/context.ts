import type { Clock } from '../clock.js';
import type { DatastoreAccess } from '../datastore-access.js';
import type { DiskInspector } from '../disk-facts.js';
import type { Requester } from '../permissions.js';
import type { SchedulerPort } from '../scheduler-port.js';
import type { Store } from '../store/db.js';
import type { VmDiscovery } from '../vm-discovery.js';

/** What every service needs, passed in by the daemon (tests pass their own). */
export interface ServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  /** Reads a disk file's format and virtual size (the fs hypervisor driver in production). */
  readonly inspectDisk: DiskInspector;
  /** The hypervisors' view of hosts and VMs (onehost sync, the host monitor, VM states). */
  readonly discovery: VmDiscovery;
  /** Hypervisor driver names hosts may use (VM_MAD). */
  readonly hypervisorDrivers: readonly string[];
  /** Datastore driver names backup datastores may use (DS_MAD). */
  readonly datastoreDrivers: readonly string[];
  /** Where datastores without BASE_PATH keep their data. */
  readonly defaultDatastoreBase: string;
  /** Makes the encryption key of a new encrypted datastore (kept outside the database). */
  readonly createDatastoreKey: (datastoreId: number) => Promise<void>;
  /** A datastore's storage outside backups: location, identity, manifests, keys (create, import). */
  readonly datastoreAccess: DatastoreAccess;
  /** False when the datastore's storage did not answer its last probe (its capacity is not read). */
  readonly datastoreAnswering?: (datastoreId: number) => boolean;
  /** Closes a deleted datastore's driver if it is open (the daemon keeps one per datastore). */
  readonly closeDatastore?: (datastoreId: number) => Promise<void>;
  /** Deletes manifests from a datastore after their records are gone (best effort, logged). */
  readonly dropManifests: (datastoreId: number, paths: readonly string[]) => Promise<void>;
  /** The configured time zone (schedules, ctime strings). */
  readonly timeZone: string;
  /** Told after a transaction changed what the scheduler acts on. */
  readonly scheduler: SchedulerPort;
}

/** One authenticated call. */
export interface Caller {
  readonly who: Requester;
}
