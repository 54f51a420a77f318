/**
 * The jobs of SPEC.md 2.4 / 3.3 / 3.4 as the daemon writes them: compact XML, TEMPLATE sorted
 * by name with CDATA values, SCHED_ACTION appended as plain XML, empty sets as `<X></X>`.
 */

/** Mon 2026-01-05 09:00:00 UTC, schedule 3's TIME. */
export const SCHED3_TIME = 1767603600;

/**
 * The `now` of the real `show` output. Schedule 3 reads `Overdue!` once the minutes to go,
 * rounded to 2 decimals, are no longer > 0: from its TIME on. And it still has no MESSAGE only
 * until the scheduler's next tick sees it due (`TIME < now`) and, the job being busy (162
 * OUTDATED, 159 ONGOING), records the error. So the real output was taken at 09:00:00, before
 * that tick; one second earlier STATUS says `Next in 0.02 minutes`.
 */
export const NOW_OVERDUE = SCHED3_TIME;

/**
 * Schedule 4 (hourly 12, TIME 2026-01-01 00:00) came due at the 00:00:15 tick while the job
 * was busy: SPEC.md 5.4's `<ctime> : Unable to execute Backup Job, pending backups in progress`,
 * whose first 43 characters are all that STATUS's 50 leave after `Error! `.
 */
export const SCHED4_MESSAGE =
  'Thu Jan  1 00:00:15 2026 : Unable to execute Backup Job, pending backups in progress';

export interface SchedXml {
  readonly id: number;
  readonly time: number;
  readonly repeat: number;
  readonly days: string;
  readonly endType: number;
  readonly endValue: number;
  readonly done?: number;
  readonly message?: string;
  readonly warning?: number;
  readonly args?: string;
}

export const schedXml = (s: SchedXml): string =>
  `<SCHED_ACTION><ID>${s.id}</ID><PARENT_ID>2</PARENT_ID><TYPE>BACKUPJOB</TYPE><ACTION>backup</ACTION>` +
  `<ARGS>${s.args ?? ''}</ARGS><TIME>${s.time}</TIME><REPEAT>${s.repeat}</REPEAT><DAYS>${s.days}</DAYS>` +
  `<END_TYPE>${s.endType}</END_TYPE><END_VALUE>${s.endValue}</END_VALUE><DONE>${s.done ?? -1}</DONE>` +
  `<MESSAGE>${s.message ?? ''}</MESSAGE><WARNING>${s.warning ?? 0}</WARNING></SCHED_ACTION>`;

export const SCHED3: SchedXml = {
  id: 3,
  time: SCHED3_TIME,
  repeat: 0,
  days: '1,5',
  endType: 0,
  endValue: -1,
};
export const SCHED4: SchedXml = {
  id: 4,
  time: 1767225600,
  repeat: 3,
  days: '12',
  endType: 1,
  endValue: 10,
  message: SCHED4_MESSAGE,
};

const PERMS =
  '<PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A>' +
  '<GROUP_U>0</GROUP_U><GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A>' +
  '<OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS>';

const cdata = (name: string, v: string) => `<${name}><![CDATA[${v}]]></${name}>`;

const JOB2_TEMPLATE =
  cdata('BACKUP_VMS', '158,159,162') +
  cdata('BACKUP_VOLATILE', 'NO') +
  cdata('DATASTORE_ID', '100') +
  cdata('EXECUTION', 'SEQUENTIAL') +
  cdata('FS_FREEZE', 'NONE') +
  cdata('KEEP_LAST', '4') +
  cdata('MODE', 'FULL');

/** Job 2 as `one.backupjob.info` returns it, schedules included. */
export function job2Xml(scheds: readonly SchedXml[] = [SCHED3, SCHED4], extra = ''): string {
  return (
    '<BACKUPJOB><ID>2</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>' +
    `<NAME>Private Services</NAME>${extra}${PERMS}<PRIORITY>50</PRIORITY>` +
    '<LAST_BACKUP_TIME>1767600000</LAST_BACKUP_TIME><LAST_BACKUP_DURATION>19</LAST_BACKUP_DURATION>' +
    `<SCHED_ACTIONS>${scheds.map((s) => `<ID>${s.id}</ID>`).join('')}</SCHED_ACTIONS>` +
    '<UPDATED_VMS><ID>158</ID></UPDATED_VMS><OUTDATED_VMS><ID>162</ID></OUTDATED_VMS>' +
    '<BACKING_UP_VMS><ID>159</ID></BACKING_UP_VMS><ERROR_VMS></ERROR_VMS>' +
    `<TEMPLATE>${JOB2_TEMPLATE}${scheds.map(schedXml).join('')}</TEMPLATE></BACKUPJOB>`
  );
}

/** Job 2 as `one.backupjobpool.info` lists it: no SCHED_ACTION inside TEMPLATE. */
const JOB2_POOL_ENTRY =
  '<BACKUPJOB><ID>2</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>' +
  `<NAME>Private Services</NAME>${PERMS}<PRIORITY>50</PRIORITY>` +
  '<LAST_BACKUP_TIME>1767600000</LAST_BACKUP_TIME><LAST_BACKUP_DURATION>19</LAST_BACKUP_DURATION>' +
  '<SCHED_ACTIONS><ID>3</ID><ID>4</ID></SCHED_ACTIONS>' +
  '<UPDATED_VMS><ID>158</ID></UPDATED_VMS><OUTDATED_VMS><ID>162</ID></OUTDATED_VMS>' +
  '<BACKING_UP_VMS><ID>159</ID></BACKING_UP_VMS><ERROR_VMS></ERROR_VMS>' +
  `<TEMPLATE>${JOB2_TEMPLATE}</TEMPLATE></BACKUPJOB>`;

/** A job never run, with a long name and more VMs than the VMS column holds. */
const JOB1_POOL_ENTRY =
  '<BACKUPJOB><ID>1</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>' +
  `<NAME>Production A very long name</NAME>${PERMS}<PRIORITY>7</PRIORITY>` +
  '<LAST_BACKUP_TIME>0</LAST_BACKUP_TIME><LAST_BACKUP_DURATION>0</LAST_BACKUP_DURATION>' +
  '<SCHED_ACTIONS></SCHED_ACTIONS><UPDATED_VMS></UPDATED_VMS><OUTDATED_VMS></OUTDATED_VMS>' +
  '<BACKING_UP_VMS></BACKING_UP_VMS><ERROR_VMS></ERROR_VMS>' +
  `<TEMPLATE>${cdata('BACKUP_VMS', '160,157,156,155,154')}${cdata('BACKUP_VOLATILE', 'NO')}` +
  `${cdata('EXECUTION', 'SEQUENTIAL')}${cdata('FS_FREEZE', 'NONE')}${cdata('KEEP_LAST', '0')}` +
  `${cdata('MODE', 'FULL')}</TEMPLATE></BACKUPJOB>`;

/** The pool of SPEC.md 3.3, newest first. */
export const POOL_XML = `<BACKUPJOB_POOL>${JOB2_POOL_ENTRY}${JOB1_POOL_ENTRY}</BACKUPJOB_POOL>`;
