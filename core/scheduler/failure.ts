/**
 * Whether a failed VM backup is worth retrying (issue 4: MAX_RETRIES / RETRY_INTERVAL). The
 * drivers say it, the scheduler does not parse messages or error codes: an error the driver that
 * raised it classified as permanent (its `isPermanent(err)`, applied by the engine's wrapper,
 * core/engine/classified-driver.ts; or a PermanentDriverError) and a OneError (a missing VM or
 * datastore, a refused configuration) are permanent; anything else (I/O hiccups, a crashed
 * worker, qemu-nbd dying, a datastore path missing for a moment) is retried.
 */
import { isOneError } from '../errors.js';
import { isPermanentFailure } from '../permanent-failure.js';

export type FailureKind = 'permanent' | 'retryable' | 'aborted';

export function classifyFailure(err: unknown, aborted: boolean): FailureKind {
  if (aborted) return 'aborted';
  if (isOneError(err) || isPermanentFailure(err)) return 'permanent';
  return 'retryable';
}

export function failureMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
