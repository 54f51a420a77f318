/** The attribute names a backup job template knows (SPEC.md 2.1), for validation and "did you mean". */

/** Attributes that hold one value; giving them twice with different values is an error. */
export const JOB_SINGLETONS = [
  'NAME',
  'PRIORITY',
  'BACKUP_VMS',
  'DATASTORE_ID',
  'MODE',
  'INCREMENT_MODE',
  'KEEP_LAST',
  'FS_FREEZE',
  'FS_FREEZE_FAILURE',
  'BACKUP_VOLATILE',
  'EXECUTION',
  'RESET',
  'DISK_IDS',
  'MAX_RETRIES',
  'RETRY_INTERVAL',
  'RPO',
] as const;

/** Every attribute with a meaning in a backup job template; others are user attributes, kept as given. */
export const JOB_ATTRIBUTES: readonly string[] = [...JOB_SINGLETONS, 'SCHED_ACTION', 'DESCRIPTION'];
