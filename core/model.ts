/** Enumerations of the domain, as `as const` tuples with a union type and a guard each. */

function guard<T extends string>(values: readonly T[]) {
  return (v: string): v is T => (values as readonly string[]).includes(v);
}

export const BACKUP_MODES = ['FULL', 'INCREMENT'] as const;
export type BackupMode = (typeof BACKUP_MODES)[number];
export const isBackupMode = guard(BACKUP_MODES);

export const INCREMENT_MODES = ['CBT', 'SNAPSHOT'] as const;
export type IncrementMode = (typeof INCREMENT_MODES)[number];
export const isIncrementMode = guard(INCREMENT_MODES);

export const FS_FREEZE_MODES = ['NONE', 'AGENT', 'SUSPEND'] as const;
export type FsFreeze = (typeof FS_FREEZE_MODES)[number];
export const isFsFreeze = guard(FS_FREEZE_MODES);

export const EXECUTION_MODES = ['SEQUENTIAL', 'PARALLEL'] as const;
export type Execution = (typeof EXECUTION_MODES)[number];
export const isExecution = guard(EXECUTION_MODES);

/** The four VM sets of a backup job. ONGOING is stored in XML as BACKING_UP_VMS. */
export const VM_SETS = ['OUTDATED', 'ONGOING', 'UPDATED', 'ERROR'] as const;
export type VmSet = (typeof VM_SETS)[number];
export const isVmSet = guard(VM_SETS);

/** Run triggers and task statuses (accsyn's model); `onhold` is shown for queued tasks of a paused job. */
export const RUN_TRIGGERS = ['manual', 'schedule', 'retry'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];
export const TASK_STATUSES = ['queued', 'executing', 'done', 'failed', 'excluded'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const RUN_RESULTS = ['done', 'failed', 'cancelled'] as const;
export type RunResult = (typeof RUN_RESULTS)[number];

/** A VM's state as the inventory keeps it. */
export const VM_STATES = ['RUNNING', 'POWEROFF'] as const;
export type VmState = (typeof VM_STATES)[number];
export const isVmState = guard(VM_STATES);

/**
 * The kinds of operation whose last outcome is kept (VM IDs for vm_*, datastore IDs for ds_*);
 * health_probe is /health's write probe.
 */
export const OUTCOME_KINDS = ['vm_backup', 'vm_restore', 'ds_gc', 'ds_verify', 'health_probe'] as const;
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];

export const DISK_FORMATS = ['raw', 'qcow2'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];
export const isDiskFormat = guard(DISK_FORMATS);

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export const isCompression = guard(COMPRESSIONS);

/** A datastore's SYNC_LEVEL (as Proxmox Backup Server's): when its writes are flushed. */
export const SYNC_LEVELS = ['file', 'filesystem', 'none'] as const;
export type SyncLevel = (typeof SYNC_LEVELS)[number];
export const DEFAULT_SYNC_LEVEL: SyncLevel = 'filesystem';

/**
 * How a datastore names its chunks: the hash of the plaintext (keyed with the datastore's MAC key
 * when encrypted). A datastore keeps one for its life, written in its identity document, so its
 * chunks deduplicate; datastores made before BLAKE3 have none there and stay on SHA-256.
 */
export const CHUNK_ID_HASHES = ['sha256', 'blake3'] as const;
export type ChunkIdHash = (typeof CHUNK_ID_HASHES)[number];
export const isChunkIdHash = guard(CHUNK_ID_HASHES);
/** What a new datastore uses: BLAKE3 hashes about five times faster than SHA-256 here. */
export const DEFAULT_CHUNK_ID_HASH: ChunkIdHash = 'blake3';
/** What a datastore whose identity names no hash uses. */
export const LEGACY_CHUNK_ID_HASH: ChunkIdHash = 'sha256';

/** Lock levels of OpenNebula's `lock` call: 1 use, 2 manage, 3 admin, 4 all. 0 = unlocked. */
export const LOCK_LABELS = ['None', 'Use', 'Manage', 'Admin', 'All'] as const;

/** Object kinds as OpenNebula names them in authorization messages. */
export const OBJECT_KINDS = ['BACKUPJOB', 'VM', 'HOST', 'DATASTORE', 'IMAGE', 'USER', 'GROUP'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

export const OPERATIONS = ['USE', 'MANAGE', 'ADMIN'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const ONEADMIN_UID = 0;
export const ONEADMIN_GID = 0;
export const USERS_GID = 1;
