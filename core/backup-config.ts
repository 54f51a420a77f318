/**
 * A VM's BACKUP_CONFIG (OpenNebula's `include/Backups.h`): the settings a user gives in the VM
 * template and the chain pointers the daemon keeps after each backup. Stored as JSON with
 * OpenNebula's attribute names and string values, read and written only through these functions.
 */
import {
  type BackupMode,
  type FsFreeze,
  type IncrementMode,
  isBackupMode,
  isFsFreeze,
  isIncrementMode,
} from './model.js';

export interface BackupConfig {
  readonly mode?: BackupMode;
  /** Backups kept by retention; 0 or absent keeps every backup. */
  readonly keepLast?: number;
  readonly fsFreeze?: FsFreeze;
  readonly incrementMode?: IncrementMode;
  /** Where the last backup went (datastore ID). */
  readonly lastDatastoreId?: number;
  /** The last increment of the current chain; -1 when no chain is open. */
  readonly lastIncrementId?: number;
  /** The image holding the current increment chain; -1 when none. */
  readonly incrementalBackupId?: number;
  /** Epoch seconds of the last recorded backup. */
  readonly lastBackupTime?: number;
}

type Field = keyof BackupConfig;

/** OpenNebula's attribute name of each field, in the order the fields are declared. */
const NAMES: Readonly<Record<Field, string>> = {
  mode: 'MODE',
  keepLast: 'KEEP_LAST',
  fsFreeze: 'FS_FREEZE',
  incrementMode: 'INCREMENT_MODE',
  lastDatastoreId: 'LAST_DATASTORE_ID',
  lastIncrementId: 'LAST_INCREMENT_ID',
  incrementalBackupId: 'INCREMENTAL_BACKUP_ID',
  lastBackupTime: 'LAST_BACKUP_TIME',
};

const NUMERIC: ReadonlySet<Field> = new Set([
  'keepLast',
  'lastDatastoreId',
  'lastIncrementId',
  'incrementalBackupId',
  'lastBackupTime',
]);

function integer(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+$/.test(text.trim())) return undefined;
  return Number(text);
}

/** Reads the stored JSON; values that are not what a field holds are left out. */
export function backupConfigFromJson(json: string): BackupConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return {};
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const text = (name: string): string | undefined => {
    const v = (raw as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  };
  const out: { -readonly [K in Field]?: BackupConfig[K] } = {};
  const mode = text(NAMES.mode)?.toUpperCase();
  if (mode !== undefined && isBackupMode(mode)) out.mode = mode;
  const freeze = text(NAMES.fsFreeze)?.toUpperCase();
  if (freeze !== undefined && isFsFreeze(freeze)) out.fsFreeze = freeze;
  const incMode = text(NAMES.incrementMode)?.toUpperCase();
  if (incMode !== undefined && isIncrementMode(incMode)) out.incrementMode = incMode;
  for (const field of NUMERIC) {
    const n = integer(text(NAMES[field]));
    if (n !== undefined) (out as Record<Field, unknown>)[field] = n;
  }
  return out;
}

/** The attributes as OpenNebula names them, in the fields' order, values as strings. */
export function backupConfigAttributes(cfg: BackupConfig): [string, string][] {
  const out: [string, string][] = [];
  for (const field of Object.keys(NAMES) as Field[]) {
    const v = cfg[field];
    if (v !== undefined) out.push([NAMES[field], String(v)]);
  }
  return out;
}

export function backupConfigToJson(cfg: BackupConfig): string {
  return JSON.stringify(Object.fromEntries(backupConfigAttributes(cfg)));
}

/** The config after a new chain must start: no open increment chain. */
export function withoutChain(cfg: BackupConfig): BackupConfig {
  return { ...cfg, incrementalBackupId: -1, lastIncrementId: -1 };
}
