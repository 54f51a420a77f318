/**
 * `onebackupjob list` (SPEC.md 3.3): OneBackupJobHelper#format_pool with the sizes of
 * onebackupjob.yaml, which override the helper's. The descriptions are the helper's, because
 * `--describe` never reads the YAML: hence NAME's copy-paste "Date for the last backup operation".
 */
import type { BackupJobDoc } from './backupjob-doc.js';
import { templateValue } from './backupjob-doc.js';
import { TIME_PATTERNS, timeToStr } from './strftime.js';
import { type ColumnDef, describeTable, formatTable, type TableOptions } from './table.js';

interface BackupJobListOptions {
  /** IANA zone for LAST (the CLI's local zone). */
  readonly timeZone: string;
  /** `-n`: UID and GID instead of the names. */
  readonly numeric?: boolean | undefined;
}

/** BACKUP_VMS as listed: over 15 characters, the first 12 and `...`; `-` without the attribute. */
export function vmsCell(backupVms: string | undefined): string {
  if (backupVms === undefined) return '-';
  const c = Array.from(backupVms);
  return c.length > 15 ? `${c.slice(0, 12).join('')}...` : backupVms;
}

export function backupJobListColumns(options: BackupJobListOptions): ColumnDef<BackupJobDoc>[] {
  const numeric = options.numeric === true;
  return [
    {
      name: 'ID',
      description: 'ONE identifier for the Backup Job',
      width: 4,
      truncate: false,
      value: (d) => String(d.id),
    },
    {
      name: 'USER',
      description: 'Username of the Backup Job owner',
      width: 8,
      align: 'left',
      value: (d) => (numeric ? String(d.uid) : d.uname),
    },
    {
      name: 'GROUP',
      description: 'Group of the Backup Job',
      width: 8,
      align: 'left',
      value: (d) => (numeric ? String(d.gid) : d.gname),
    },
    {
      name: 'PRIO',
      description: 'Priority of the Backup Job',
      width: 4,
      align: 'left',
      value: (d) => String(d.priority),
    },
    {
      name: 'NAME',
      description: 'Date for the last backup operation',
      width: 15,
      align: 'left',
      expand: true,
      value: (d) => d.name,
    },
    {
      name: 'LAST',
      description: 'Date for the last backup operation',
      width: 15,
      align: 'left',
      expand: true,
      value: (d) => timeToStr(d.lastBackupTime, TIME_PATTERNS.dateTime, options.timeZone),
    },
    {
      name: 'VMS',
      description: 'VM IDs part of this backup job',
      width: 15,
      align: 'left',
      expand: true,
      value: (d) => vmsCell(templateValue(d, 'BACKUP_VMS')),
    },
  ];
}

/** The table, or the CSV, of `onebackupjob list` for these jobs (in the pool's order). */
export function formatBackupJobPool(
  jobs: readonly BackupJobDoc[],
  options: BackupJobListOptions & TableOptions,
): string {
  return formatTable(backupJobListColumns(options), jobs, options);
}

/** `onebackupjob list --describe`. */
export function describeBackupJobPool(): string {
  return describeTable(backupJobListColumns({ timeZone: 'UTC' }));
}
