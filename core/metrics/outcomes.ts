/**
 * Keeps the last outcome of each VM backup and restore and each datastore GC and verify in the
 * store (table last_outcomes), so `opennebula_vm_backup_last_status` and the GC/verify
 * timestamps survive a restart. An observer: outcomes are queued and written in batches, one
 * transaction per batch (write-batches.ts), in the order they happened.
 */

import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { OutcomeKind } from '../model.js';
import type { Store } from '../store/db.js';
import { recordOutcome } from '../store/outcomes.js';
import { writeBatches } from './write-batches.js';

export interface OutcomeRecorder extends BackupObserver {
  /** Resolves when every outcome reported so far is stored. */
  flush(): Promise<void>;
}

interface Outcome {
  readonly kind: OutcomeKind;
  readonly objectId: number;
  readonly ok: boolean;
  readonly timeMs: number;
}

export function outcomeRecorder(store: Store, now: () => number, log: Logger): OutcomeRecorder {
  const batches = writeBatches<Outcome>(
    (batch) =>
      store.tx(async (trx) => {
        for (const o of batch) await recordOutcome(trx, o.kind, o.objectId, o.ok, o.timeMs);
      }),
    (err, batch) =>
      log.warn('cannot record the outcomes for metrics', {
        outcomes: batch.map((o) => `${o.kind} ${o.objectId}`).join(', '),
        error: err instanceof Error ? err.message : String(err),
      }),
  );
  const record = (kind: OutcomeKind, objectId: number, ok: boolean) =>
    batches.push({ kind, objectId, ok, timeMs: now() });
  return {
    backupFinished: (e) => record('vm_backup', e.vmId, true),
    backupFailed: (e) => record('vm_backup', e.vmId, false),
    retried: () => undefined,
    restoreFinished: (e) => record('vm_restore', e.vmId, e.ok),
    gcFinished: (e) => record('ds_gc', e.datastoreId, e.ok),
    verifyFinished: (e) => record('ds_verify', e.datastoreId, e.ok),
    flush: () => batches.flush(),
  };
}
