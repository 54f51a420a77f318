/**
 * Whether a failed VM backup is worth retrying (issue 4: MAX_RETRIES / RETRY_INTERVAL). The
 * drivers say it, the scheduler does not parse messages or error codes: an error the driver that
 * raised it classified as permanent (its `isPermanent(err)`, applied by the engine's wrapper,
 * core/engine/classified-driver.ts; or a PermanentDriverError) and a OneError (a missing VM or
 * datastore, a refused configuration) are permanent; anything else (I/O hiccups, a crashed
 * worker, qemu-nbd dying, a datastore path missing for a moment) is retried.
 */
import { isOneError } from '../errors.js';
import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import { isPermanentFailure } from '../permanent-failure.js';
import type { FailureOutcome } from '../store/job-vms.js';

export type FailureKind = 'permanent' | 'retryable' | 'aborted';

export function classifyFailure(err: unknown, aborted: boolean): FailureKind {
  if (aborted) return 'aborted';
  if (isOneError(err) || isPermanentFailure(err)) return 'permanent';
  return 'retryable';
}

export function failureMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Logs a failed job VM backup and tells the observer, by what the store made of it. */
export function reportJobFailure(
  log: Logger,
  observer: BackupObserver | undefined,
  f: { jobId: number; vmId: number; attempt: number; kind: FailureKind; message: string },
  failed: FailureOutcome,
): void {
  const { jobId, vmId, kind } = f;
  if (failed.outcome === 'stopped') {
    log.info('backup stopped', { job: jobId, vm: vmId, reason: f.message });
    observer?.backupFailed({ jobId, vmId, reason: kind === 'aborted' ? 'cancelled' : 'permanent' });
  } else if (failed.outcome === 'retry') {
    observer?.backupFailed({ jobId, vmId, reason: kind });
    observer?.retried({ jobId, vmId });
    log.warn('backup failed, will retry', { job: jobId, vm: vmId, attempt: f.attempt, error: f.message });
  } else {
    observer?.backupFailed({ jobId, vmId, reason: kind });
    log.error('backup failed', { job: jobId, vm: vmId, attempt: f.attempt, error: failed.text });
  }
}
