/**
 * One permanent/retryable classification, owned by the drivers. A driver says which of its
 * errors retrying will not fix (`isPermanent(err)` on its contract); the engine passes every error
 * a driver raises through that driver's own isPermanent() and marks the permanent ones here
 * (core/engine/classified-driver.ts), so the scheduler (core/scheduler/failure.ts) can decide
 * without knowing which driver failed and without parsing messages or error codes.
 *
 * A leaf: drivers, engine and scheduler all import it, and it imports nothing.
 */

const PERMANENT: unique symbol = Symbol('onebackup.permanent-failure');

/** A failure a driver raises already classified as one that retrying will not fix. */
export class PermanentDriverError extends Error {
  override name = 'PermanentDriverError';
}

/**
 * Marks `err` permanent and returns it (the same object, so its message, type and stack are
 * unchanged); a value that cannot carry the mark comes back wrapped in a PermanentDriverError.
 */
export function markPermanent(err: unknown): unknown {
  if ((typeof err === 'object' && err !== null) || typeof err === 'function') {
    if (Object.isExtensible(err)) {
      Object.defineProperty(err, PERMANENT, { value: true });
      return err;
    }
    if (isPermanentFailure(err)) return err;
  }
  return new PermanentDriverError(err instanceof Error ? err.message : String(err), { cause: err });
}

/** Whether a driver said this failure (or one it was caused by) is permanent. */
export function isPermanentFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof PermanentDriverError) return true;
    if (typeof e !== 'object' && typeof e !== 'function') return false;
    if ((e as { [PERMANENT]?: boolean })[PERMANENT] === true) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
