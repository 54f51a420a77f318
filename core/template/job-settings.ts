/** What one VM backup of a job needs from the job's template, read when it starts. */
import type { BackupMode, FsFreeze, IncrementMode } from '../model.js';
import { isBackupMode, isFsFreeze, isIncrementMode } from '../model.js';
import type { PlainAttribute } from './attributes.js';

export interface JobBackupSettings {
  readonly datastoreId: number | undefined;
  readonly reset: boolean;
  readonly mode: BackupMode | undefined;
  readonly keepLast: number | undefined;
  readonly fsFreeze: FsFreeze | undefined;
  readonly incrementMode: IncrementMode | undefined;
  /** FS_FREEZE_FAILURE: when the guest agent does not answer, FAIL the backup or CONTINUE crash-consistent. */
  readonly onFreezeFailure: 'FAIL' | 'CONTINUE' | undefined;
  readonly maxRetries: number;
  readonly retryIntervalS: number;
}

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_RETRY_INTERVAL_S = 300;

export function singleValue(template: readonly PlainAttribute[], name: string): string | undefined {
  const a = template.find((x) => x.name === name);
  return a?.kind === 'single' ? a.value : undefined;
}

/** The VM IDs of BACKUP_VMS, in order. */
export function vmsOf(template: readonly PlainAttribute[]): number[] {
  const v = singleValue(template, 'BACKUP_VMS');
  if (v === undefined || v.trim() === '') return [];
  return v.split(',').map((s) => Number(s.trim()));
}

export function jobBackupSettings(template: readonly PlainAttribute[]): JobBackupSettings {
  const num = (name: string) => {
    const v = singleValue(template, name);
    return v === undefined || v.trim() === '' ? undefined : Number(v);
  };
  const mode = singleValue(template, 'MODE')?.toUpperCase();
  const freeze = singleValue(template, 'FS_FREEZE')?.toUpperCase();
  const incrementMode = singleValue(template, 'INCREMENT_MODE')?.toUpperCase();
  const onFreezeFailure = singleValue(template, 'FS_FREEZE_FAILURE')?.toUpperCase();
  return {
    datastoreId: num('DATASTORE_ID'),
    reset: (singleValue(template, 'RESET') ?? '').toUpperCase() === 'YES',
    mode: mode !== undefined && isBackupMode(mode) ? mode : undefined,
    keepLast: num('KEEP_LAST'),
    fsFreeze: freeze !== undefined && isFsFreeze(freeze) ? freeze : undefined,
    incrementMode: incrementMode !== undefined && isIncrementMode(incrementMode) ? incrementMode : undefined,
    onFreezeFailure:
      onFreezeFailure === 'FAIL' || onFreezeFailure === 'CONTINUE' ? onFreezeFailure : undefined,
    maxRetries: num('MAX_RETRIES') ?? DEFAULT_MAX_RETRIES,
    retryIntervalS: num('RETRY_INTERVAL') ?? DEFAULT_RETRY_INTERVAL_S,
  };
}
