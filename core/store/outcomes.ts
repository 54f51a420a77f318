/**
 * The last outcome of each VM backup and restore and each datastore GC and verify (table
 * last_outcomes), kept so the metrics that report them survive a restart; and the row the
 * health check writes (and rolls back) to prove the store takes writes.
 */
import type { OutcomeKind } from '../model.js';
import type { Queryable, Tx } from './db.js';

export interface OutcomeRow {
  readonly kind: OutcomeKind;
  readonly object_id: number;
  /** 1 success, 0 failure. */
  readonly ok: number;
  /** Epoch milliseconds of the outcome. */
  readonly time_ms: number;
  /** Epoch milliseconds of the last success; 0 if none. */
  readonly last_ok_ms: number;
}

/** Records an outcome at `timeMs`; a failure keeps the time of the last success. */
export async function recordOutcome(
  trx: Tx,
  kind: OutcomeKind,
  objectId: number,
  ok: boolean,
  timeMs: number,
): Promise<void> {
  await trx
    .insertInto('last_outcomes')
    .values({ kind, object_id: objectId, ok: ok ? 1 : 0, time_ms: timeMs, last_ok_ms: ok ? timeMs : 0 })
    .onConflict((oc) =>
      oc.columns(['kind', 'object_id']).doUpdateSet((eb) => ({
        ok: eb.ref('excluded.ok'),
        time_ms: eb.ref('excluded.time_ms'),
        last_ok_ms: ok ? eb.ref('excluded.last_ok_ms') : eb.ref('last_outcomes.last_ok_ms'),
      })),
    )
    .execute();
}

/** Every recorded outcome. */
export async function lastOutcomes(db: Queryable): Promise<OutcomeRow[]> {
  return db.selectFrom('last_outcomes').selectAll().execute();
}

/**
 * The health check's write: a probe row (left alone if one is there). The caller rolls the
 * transaction back; that it could write at all is what it learns.
 */
export async function writeHealthProbe(trx: Tx, timeMs: number): Promise<void> {
  await trx
    .insertInto('last_outcomes')
    .values({ kind: 'health_probe', object_id: -1, ok: 1, time_ms: timeMs, last_ok_ms: 0 })
    .onConflict((oc) => oc.columns(['kind', 'object_id']).doNothing())
    .execute();
}
