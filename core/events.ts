/**
 * The events of backup work that metrics count (issue 5). The scheduler, the VM backup service
 * and the runner call a BackupObserver; they never see prom-client. Calls are synchronous and
 * must not throw: an observer that needs I/O queues it.
 */
import type { BackupMode } from './model.js';

/** Why a backup attempt failed: a bounded label (never a message or an ID). */
export type FailureReason = 'permanent' | 'retryable' | 'aborted' | 'cancelled';

export interface BackupStatsEvent {
  readonly vmId: number;
  /** -1 for `onevm backup` of a VM in no job. */
  readonly jobId: number;
  readonly datastoreId: number;
  /** What was recorded: a FULL image or an INCREMENT of a chain. */
  readonly mode: BackupMode;
  readonly bytesRead: number;
  readonly bytesStored: number;
  readonly bytesDeduplicated: number;
  readonly bytesZero: number;
  readonly durationMs: number;
}

export interface BackupObserver {
  backupFinished(e: BackupStatsEvent): void;
  backupFailed(e: { readonly vmId: number; readonly jobId: number; readonly reason: FailureReason }): void;
  /** A failed attempt put back in the queue for another try. */
  retried(e: { readonly vmId: number; readonly jobId: number }): void;
  restoreFinished(e: { readonly vmId: number; readonly ok: boolean }): void;
  gcFinished(e: { readonly datastoreId: number; readonly ok: boolean }): void;
  verifyFinished(e: { readonly datastoreId: number; readonly ok: boolean }): void;
}

/** An observer that ignores everything (tests, tools without metrics). */
export const NO_OBSERVER: BackupObserver = Object.freeze({
  backupFinished: () => undefined,
  backupFailed: () => undefined,
  retried: () => undefined,
  restoreFinished: () => undefined,
  gcFinished: () => undefined,
  verifyFinished: () => undefined,
});

/** Sends every event to each observer in turn; one that throws does not stop the others. */
export function fanOut(
  observers: readonly BackupObserver[],
  onError: (err: unknown) => void,
): BackupObserver {
  const each =
    <K extends keyof BackupObserver>(key: K) =>
    (e: Parameters<BackupObserver[K]>[0]) => {
      for (const o of observers) {
        try {
          (o[key] as (x: typeof e) => void)(e);
        } catch (err) {
          onError(err);
        }
      }
    };
  return {
    backupFinished: each('backupFinished'),
    backupFailed: each('backupFailed'),
    retried: each('retried'),
    restoreFinished: each('restoreFinished'),
    gcFinished: each('gcFinished'),
    verifyFinished: each('verifyFinished'),
  };
}
