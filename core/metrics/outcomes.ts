/**
 * Keeps the last outcome of each VM backup and restore and each datastore GC and verify in the
 * store (table last_outcomes), so `opennebula_vm_backup_last_status` and the GC/verify
 * timestamps survive a restart. An observer: writes are queued and run one after another.
 */

import type { BackupObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { OutcomeKind } from '../model.js';
import type { Store } from '../store/db.js';
import { recordOutcome } from '../store/outcomes.js';

export interface OutcomeRecorder extends BackupObserver {
  /** Resolves when every outcome reported so far is stored. */
  flush(): Promise<void>;
}

export function outcomeRecorder(store: Store, now: () => number, log: Logger): OutcomeRecorder {
  let chain: Promise<void> = Promise.resolve();
  const record = (kind: OutcomeKind, objectId: number, ok: boolean) => {
    const timeMs = now();
    chain = chain.then(async () => {
      try {
        await store.tx((trx) => recordOutcome(trx, kind, objectId, ok, timeMs));
      } catch (err) {
        log.warn('cannot record the outcome for metrics', {
          kind,
          object: objectId,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    });
  };
  return {
    backupFinished: (e) => record('vm_backup', e.vmId, true),
    backupFailed: (e) => record('vm_backup', e.vmId, false),
    retried: () => undefined,
    restoreFinished: (e) => record('vm_restore', e.vmId, e.ok),
    gcFinished: (e) => record('ds_gc', e.datastoreId, e.ok),
    verifyFinished: (e) => record('ds_verify', e.datastoreId, e.ok),
    flush: () => chain,
  };
}
