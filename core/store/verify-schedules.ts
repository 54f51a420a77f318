/**
 * Scheduled verify of datastores (VERIFY_INTERVAL, VERIFY_BUDGET): when each is next due and
 * where the last budgeted run stopped, so the next one resumes there (table verify_schedules,
 * removed with its datastore).
 */

import type { Selectable } from 'kysely';
import { decodeAttributes, getSingle } from '../template/attributes.js';
import type { Queryable, Tx } from './db.js';
import type { VerifyScheduleTable } from './schema.js';

/** Where a budgeted verify stopped: the next chunk entry to check of that increment. */
export interface VerifyPosition {
  readonly imageId: number;
  readonly incrementId: number;
  readonly chunk: number;
  /** The image it stopped in was found broken before the stop. */
  readonly imageBroken: boolean;
}

export interface DatastoreVerifySchedule {
  readonly datastoreId: number;
  /** VERIFY_INTERVAL and VERIFY_BUDGET as stored (checked at create). */
  readonly interval: string;
  readonly budget: string | undefined;
  readonly row: Selectable<VerifyScheduleTable> | undefined;
}

/** Every datastore with a VERIFY_INTERVAL, with its schedule row if it has one yet. */
export async function datastoreVerifySchedules(db: Queryable): Promise<DatastoreVerifySchedule[]> {
  const [datastores, rows] = await Promise.all([
    db.selectFrom('datastores').select(['id', 'template']).orderBy('id').execute(),
    db.selectFrom('verify_schedules').selectAll().execute(),
  ]);
  const byId = new Map(rows.map((r) => [r.datastore_id, r]));
  const out: DatastoreVerifySchedule[] = [];
  for (const ds of datastores) {
    const t = decodeAttributes(ds.template);
    const interval = getSingle(t, 'VERIFY_INTERVAL');
    if (interval === undefined) continue;
    out.push({ datastoreId: ds.id, interval, budget: getSingle(t, 'VERIFY_BUDGET'), row: byId.get(ds.id) });
  }
  return out;
}

/** Sets when the datastore's scheduled verify is next due (for `spec`); keeps where it stopped. */
export async function armVerifySchedule(
  trx: Tx,
  datastoreId: number,
  spec: string,
  nextAt: number,
): Promise<void> {
  await trx
    .insertInto('verify_schedules')
    .values({ datastore_id: datastoreId, spec, next_at: nextAt, image_id: null, inc_id: null })
    .onConflict((c) => c.column('datastore_id').doUpdateSet({ spec, next_at: nextAt }))
    .execute();
}

/** A scheduled verify starts now: its next time moves on first, so a crash never fires it twice. */
export async function markVerifyFired(
  trx: Tx,
  datastoreId: number,
  nextAt: number,
  nowS: number,
): Promise<void> {
  await trx
    .updateTable('verify_schedules')
    .set({ next_at: nextAt, last_run_at: nowS })
    .where('datastore_id', '=', datastoreId)
    .execute();
}

/** Where the scheduled verify resumes; undefined = from the start. */
export async function verifyPosition(
  db: Queryable,
  datastoreId: number,
): Promise<VerifyPosition | undefined> {
  const row = await db
    .selectFrom('verify_schedules')
    .select(['image_id', 'inc_id', 'chunk', 'carry_broken'])
    .where('datastore_id', '=', datastoreId)
    .executeTakeFirst();
  if (!row || row.image_id === null || row.inc_id === null) return undefined;
  return {
    imageId: row.image_id,
    incrementId: row.inc_id,
    chunk: row.chunk,
    imageBroken: row.carry_broken === 1,
  };
}

/** A scheduled verify ended: stopped on its budget at `stoppedAt`, or through the whole datastore. */
export async function saveVerifyPosition(
  trx: Tx,
  datastoreId: number,
  stoppedAt: VerifyPosition | undefined,
  nowS: number,
): Promise<void> {
  await trx
    .updateTable('verify_schedules')
    .set(
      stoppedAt
        ? {
            image_id: stoppedAt.imageId,
            inc_id: stoppedAt.incrementId,
            chunk: stoppedAt.chunk,
            carry_broken: stoppedAt.imageBroken ? 1 : 0,
          }
        : { image_id: null, inc_id: null, chunk: 0, carry_broken: 0, cycle_done_at: nowS },
    )
    .where('datastore_id', '=', datastoreId)
    .execute();
}
