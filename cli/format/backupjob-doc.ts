/**
 * The BackupJob XML document (SPEC.md 2.4) as a typed, read-only object, for the CLIs.
 * `one.backupjob.info` gives one `<BACKUPJOB>`; `one.backupjobpool.info` gives a
 * `<BACKUPJOB_POOL>` of them (no SCHED_ACTION inside their TEMPLATE).
 *
 * Integers must be integers and the elements every document has must be there: a document
 * that breaks this is a daemon bug, reported naming the element, never read as 0. The four VM
 * sets, SCHED_ACTIONS, LOCK and TEMPLATE may be absent (empty). Text is CDATA or escaped text,
 * decoded, blanks kept. The reader and its parse functions are in backupjob-doc-pull.ts.
 */
import type { Permissions } from '../../core/permissions.js';
import type { PrintableAttribute } from '../../core/template/serialize.js';

export interface BackupJobLock {
  /** 1 use, 2 manage, 3 admin, 4 all. */
  readonly locked: number;
  readonly owner: number;
  readonly time: number;
  readonly reqId: number;
}

/** The nine PERMISSIONS flags, true when the element is `1`. */
export type BackupJobPermissions = Permissions;

/** A TEMPLATE attribute: a single value, or a vector of sub-attributes in document order. */
export type TemplateAttribute = PrintableAttribute;

/** One SCHED_ACTION as `info` appends it to TEMPLATE (SPEC.md 5.1). */
export interface SchedAction {
  readonly id: number;
  readonly parentId: number;
  readonly type: string;
  readonly action: string;
  /** '' when empty. */
  readonly args: string;
  /** Epoch seconds. */
  readonly time: number;
  /** -1 none, 0 weekly, 1 monthly, 2 yearly, 3 hourly. */
  readonly repeat: number;
  /** As given, e.g. `1,5`; '' when none. */
  readonly days: string;
  /** -1 none, 0 never, 1 after END_VALUE times, 2 at the END_VALUE epoch. */
  readonly endType: number;
  readonly endValue: number;
  /** Epoch of the last run, -1 never. */
  readonly done: number;
  /** `<ctime> : <error>`, '' when none. */
  readonly message: string;
  /** Epoch of the warning mark, 0 none. */
  readonly warning: number;
  /** Freezer kinds (ours): `6 hours`, a cron expression; '' or absent when not used. */
  readonly interval?: string;
  readonly cron?: string;
}

export interface BackupJobDoc {
  readonly id: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly name: string;
  /** Present only while locked. */
  readonly lock?: BackupJobLock;
  readonly permissions: BackupJobPermissions;
  readonly priority: number;
  /** Epoch seconds the last run started, 0 never. */
  readonly lastBackupTime: number;
  /** Seconds. */
  readonly lastBackupDuration: number;
  readonly schedActionIds: readonly number[];
  readonly updatedVms: readonly number[];
  readonly outdatedVms: readonly number[];
  readonly backingUpVms: readonly number[];
  readonly errorVms: readonly number[];
  /** TEMPLATE children in document order, SCHED_ACTION left out (it is in schedActions). */
  readonly template: readonly TemplateAttribute[];
  readonly schedActions: readonly SchedAction[];
}

/** The value of a single TEMPLATE attribute (the first of that name), if there is one. */
export function templateValue(doc: BackupJobDoc, name: string): string | undefined {
  const a = doc.template.find((t) => t.name === name);
  return a?.kind === 'single' ? a.value : undefined;
}
