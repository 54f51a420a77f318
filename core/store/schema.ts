/** Row types of the state database, as kysely sees them. Times are epoch seconds. */
import type { Generated } from 'kysely';
import type {
  BackupMode,
  DiskFormat,
  OutcomeKind,
  RunResult,
  RunTrigger,
  TaskStatus,
  VmSet,
  VmState,
} from '../model.js';

export interface PoolIdTable {
  pool: string;
  last_id: number;
}

export interface GroupTable {
  id: number;
  name: string;
  template: string;
}

export interface UserTable {
  id: number;
  name: string;
  gid: number;
  password_hash: string;
  enabled: number;
  template: string;
}

/** A login token of a user (only its SHA-256 is kept). */
export interface LoginTokenTable {
  uid: number;
  token_hash: string;
  /** Epoch seconds; -1 = never expires. */
  expiration: number;
  /** Group the token acts as; -1 = the user's own. */
  egid: number;
}

/** Columns every owned object shares. `template` holds the attributes as JSON. */
export interface OwnedColumns {
  id: number;
  name: string;
  uid: number;
  gid: number;
  permissions: number;
  lock_level: number;
  lock_owner: number;
  lock_time: number;
  lock_req_id: number;
  template: string;
}

export interface HostTable extends OwnedColumns {
  vm_mad: string;
}

export interface DatastoreTable extends OwnedColumns {
  type: string;
  ds_mad: string;
}

export interface VmTable extends OwnedColumns {
  host_id: number;
  state: VmState;
  backup_job_id: number;
  stime: number;
  /** JSON of the VM's BACKUP_CONFIG attributes. */
  backup_config: string;
}

export interface VmDiskTable {
  vm_id: number;
  disk_id: number;
  source: string;
  format: DiskFormat;
  size_bytes: number;
}

export interface ImageTable extends OwnedColumns {
  type: string;
  datastore_id: number;
  vm_id: number;
  backup_job_id: number;
  source: string;
  size_mb: number;
  format: string;
  regtime: number;
  /** 1 READY, 5 ERROR (a verify found it broken). */
  state: number;
  /** Epoch seconds when a verify last found the image whole; 0 = never. */
  verified_at: number;
}

export interface BackupJobTable extends OwnedColumns {
  priority: number;
  last_backup_time: number;
  last_backup_duration: number;
  /** When the job's current OUTDATED batch was triggered; scheduler tie-break. */
  outdated_since: number;
  /** 1 while `onebackupjob pause` holds the job's queued VMs. */
  paused: number;
}

export interface JobVmTable {
  job_id: number;
  vm_id: number;
  vm_set: VmSet;
  error: string;
  changed: number;
  /** Backup attempts of this VM in the job's current run. */
  attempt: Generated<number>;
  /** Epoch seconds before which a VM waiting for a retry is not dispatched. */
  not_before: Generated<number>;
}

/** One execution of a job (accsyn's run): manual, schedule or retry. */
export interface JobRunTable {
  job_id: number;
  run_id: number;
  trigger: RunTrigger;
  /** Epoch milliseconds. */
  start_ms: number;
  /** Epoch milliseconds; 0 while the run is in progress. */
  end_ms: number;
  /** '' while running, then how it ended. */
  result: RunResult | '';
}

/** One VM of a run (accsyn's task). */
/** A host's last monitoring check (migration 0011); `health` is HostHealth as JSON. */
export interface HostHealthTable {
  host_id: number;
  name: string;
  checked_at: number;
  health: string;
}

/** A running onebackupd (migration 0010): alive while its heartbeat is within the lease. */
export interface DaemonTable {
  id: string;
  /** `onebackupd PID on HOST`, for run records, logs and /health. */
  name: string;
  started_ms: number;
  /** The database's clock, epoch ms, at the daemon's last heartbeat. */
  heartbeat_ms: number;
  /** 1 for the daemon that fires schedules, verify schedules and copies. */
  leader: Generated<number>;
  /** Its XML-RPC endpoint, for /health. */
  url: Generated<string>;
  /** `HOST:STATE_DIR`: a daemon holding that state directory's lock knows an earlier row there is dead. */
  home: Generated<string>;
}

/** A VM backup running on a daemon: counts against MAX_BACKUPS and MAX_BACKUPS_HOST everywhere. */
export interface BackupClaimTable {
  vm_id: number;
  daemon_id: string;
  host_id: number;
  /** The job, or -1 for `onevm backup` of a VM in no job. */
  job_id: number;
  claimed_ms: number;
  /** 1 once a cancel asked the daemon running it to stop. */
  cancelled: number;
}

export interface RunTaskTable {
  job_id: number;
  run_id: number;
  vm_id: number;
  host_id: number;
  status: TaskStatus;
  attempt: number;
  /** Epoch milliseconds of the last attempt's start; 0 before. */
  start_ms: number;
  /** Epoch milliseconds of the end; 0 while not finished. */
  end_ms: number;
  bytes_done: number;
  bytes_total: number;
  error: string;
  /** Global start order (dispatch sequence), 0 before the first start. */
  seq: number;
  /** The daemon that ran the last attempt (its name, `onebackupd PID on HOST`); '' before. */
  daemon: string;
}

export interface SchedActionTable {
  id: number;
  parent_id: number;
  type: string;
  action: string;
  args: string;
  time: number;
  repeat: number;
  days: string;
  end_type: number;
  end_value: number;
  done: number;
  message: string;
  warning: number | null;
  interval: string;
  cron: string;
  anchor: number;
}

export interface ImageIncrementTable {
  image_id: number;
  inc_id: number;
  type: BackupMode;
  parent_id: number;
  /** Manifest path in the datastore. */
  source: string;
  size_mb: number;
  date: number;
  /** JSON: bytes read/stored/deduplicated/zero, duration, compression, encryption, digests. */
  stats: string;
}

/** The copy of one backup increment in another datastore (COPY_DATASTORE_ID); see store/copies.ts. */
export interface ImageCopyTable {
  image_id: number;
  inc_id: number;
  /** The copy target. */
  datastore_id: number;
  vm_id: number;
  /** The increment's own datastore. */
  source_datastore_id: number;
  /** Manifest path, the same in both datastores. */
  source: string;
  state: CopyState;
  queued_at: number;
  /** Epoch seconds of the last change of state (or attempt). */
  time: number;
  attempts: Generated<number>;
  /** A FAILED copy is tried again from this time (epoch seconds), or at the next backup. */
  next_at: Generated<number>;
  reason: Generated<string>;
  chunks_written: Generated<number>;
  bytes_written: Generated<number>;
}

export type CopyState = 'PENDING' | 'COPIED' | 'FAILED' | 'DROPPED';

export interface EventTable {
  seq: Generated<number>;
  time: number;
  object: string;
  object_id: number;
  message: string;
}

/** One log line of a VM task of a run (issue 5), as the daemon's logger formatted it. */
export interface TaskLogTable {
  seq: Generated<number>;
  job_id: number;
  run_id: number;
  vm_id: number;
  time_ms: number;
  line: string;
}

/** The last outcome of an operation on an object: vm_backup, vm_restore (VM IDs), ds_gc, ds_verify. */
export interface LastOutcomeTable {
  kind: OutcomeKind;
  object_id: number;
  /** 1 success, 0 failure. */
  ok: number;
  /** Epoch milliseconds of the outcome. */
  time_ms: number;
  /** Epoch milliseconds of the last success; 0 if none. */
  last_ok_ms: Generated<number>;
}

/** Scheduled verify of a datastore (VERIFY_INTERVAL): next time and where the last run stopped. */
export interface VerifyScheduleTable {
  datastore_id: number;
  /** VERIFY_INTERVAL the next time was computed from; another value recomputes it. */
  spec: string;
  /** Epoch seconds. */
  next_at: number;
  /** Where the last run stopped on its budget: the next chunk entry to check; null = from the start. */
  image_id: number | null;
  inc_id: number | null;
  chunk: Generated<number>;
  /** 1 when the image the last run stopped in was found broken before the stop. */
  carry_broken: Generated<number>;
  last_run_at: Generated<number>;
  /** Epoch seconds when a scheduled verify last reached the end of the datastore. */
  cycle_done_at: Generated<number>;
}

export interface Database {
  pool_ids: PoolIdTable;
  groups: GroupTable;
  users: UserTable;
  login_tokens: LoginTokenTable;
  hosts: HostTable;
  datastores: DatastoreTable;
  vms: VmTable;
  vm_disks: VmDiskTable;
  images: ImageTable;
  image_increments: ImageIncrementTable;
  image_copies: ImageCopyTable;
  backup_jobs: BackupJobTable;
  job_vms: JobVmTable;
  sched_actions: SchedActionTable;
  job_runs: JobRunTable;
  run_tasks: RunTaskTable;
  events: EventTable;
  task_logs: TaskLogTable;
  last_outcomes: LastOutcomeTable;
  verify_schedules: VerifyScheduleTable;
  daemons: DaemonTable;
  backup_claims: BackupClaimTable;
  host_health: HostHealthTable;
}
