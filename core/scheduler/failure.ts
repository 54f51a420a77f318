/**
 * Whether a failed VM backup is worth retrying (issue 4: MAX_RETRIES / RETRY_INTERVAL). Drivers
 * say it, the scheduler does not parse messages: a PermanentDriverError, an errno that retrying
 * cannot fix (no space, no permission, read-only) or an OneError (a missing VM or datastore, a
 * refused configuration) is permanent; anything else (I/O hiccups, a crashed worker, qemu-nbd
 * dying) is retried.
 */
import { PermanentDriverError } from '../../drivers/hypervisor/types.js';
import { isOneError } from '../errors.js';

const PERMANENT_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
]);

export type FailureKind = 'permanent' | 'retryable' | 'aborted';

export function classifyFailure(err: unknown, aborted: boolean): FailureKind {
  if (aborted) return 'aborted';
  if (err instanceof PermanentDriverError || isOneError(err)) return 'permanent';
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && PERMANENT_ERRNO.has(code)) return 'permanent';
  return 'retryable';
}

export function failureMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
