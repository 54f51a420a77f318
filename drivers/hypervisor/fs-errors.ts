/** Which failures of the `fs` hypervisor driver retrying will not fix (HypervisorDriver.isPermanent). */
import { isOneError } from '../../core/errors.js';
import { PermanentDriverError } from '../../core/permanent-failure.js';

const PERMANENT_ERRNO = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'ENOSPC',
  'EDQUOT',
]);

export function isPermanentFsError(err: unknown): boolean {
  if (err instanceof PermanentDriverError || isOneError(err)) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && PERMANENT_ERRNO.has(code);
}
