/**
 * The counters and the duration histogram of backup work, fed by BackupObserver events (they
 * count since the daemon started, as Prometheus counters do; rate() copes with restarts).
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { BackupObserver, FailureReason } from '../events.js';

const REASONS: readonly FailureReason[] = ['permanent', 'retryable', 'aborted', 'cancelled'];

/** Seconds: from a small VM's increment (seconds) to a multi-terabyte full backup (hours). */
export const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 28_800];

export function eventMetrics(registry: Registry): BackupObserver {
  const registers = [registry];
  const duration = new Histogram({
    name: 'onebackup_backup_duration_seconds',
    help: 'Duration of successful VM backups, by backup_job (-1: onevm backup outside jobs) and recorded mode (FULL, INCREMENT).',
    labelNames: ['backup_job', 'mode'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const bytes = (what: string, help: string) =>
    new Counter({
      name: `onebackup_bytes_${what}_total`,
      help,
      labelNames: ['datastore'] as const,
      registers,
    });
  const read = bytes('read', 'Bytes read from VM disks by successful backups, by destination datastore.');
  const stored = bytes(
    'stored',
    'Bytes written to the datastore (compressed, encrypted chunks) by successful backups.',
  );
  const dedup = bytes(
    'deduplicated',
    'Bytes of disk data not stored again because the datastore already held the chunk.',
  );
  const zero = bytes('zero', 'Bytes of all-zero disk data, recorded without storing a chunk.');
  const failures = new Counter({
    name: 'onebackup_backup_failures_total',
    help: 'Failed VM backup attempts, by reason: permanent (will not be retried), retryable, aborted (interrupted by a stop), cancelled (by a user).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const r of REASONS) failures.inc({ reason: r }, 0);
  const retries = new Counter({
    name: 'onebackup_retries_total',
    help: 'Failed VM backup attempts put back in the queue for another try (MAX_RETRIES, RETRY_INTERVAL).',
    registers,
  });

  return {
    backupFinished: (e) => {
      const datastore = String(e.datastoreId);
      duration.observe({ backup_job: String(e.jobId), mode: e.mode }, e.durationMs / 1000);
      read.inc({ datastore }, e.bytesRead);
      stored.inc({ datastore }, e.bytesStored);
      dedup.inc({ datastore }, e.bytesDeduplicated);
      zero.inc({ datastore }, e.bytesZero);
    },
    backupFailed: (e) => failures.inc({ reason: e.reason }),
    retried: () => retries.inc(),
    restoreFinished: () => undefined,
    gcFinished: () => undefined,
    verifyFinished: () => undefined,
  };
}
