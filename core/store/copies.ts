/**
 * The second copy of backups (issue 12, item 4): one row per backup increment and copy target.
 * A backup recorded into a datastore with COPY_DATASTORE_ID queues its copy in the same
 * transaction (PENDING), so a crash right after the record still copies it; the copier
 * (core/scheduler/copies.ts) records COPIED or FAILED (reason, time, when it is tried again).
 * Retention and `oneimage delete` mark the copies of what they drop DROPPED, in their own
 * transaction; the copier deletes the copy's manifest from the target, then the row.
 */
import type { Selectable } from 'kysely';
import { ErrorCode, OneError } from '../errors.js';
import { storedSingle } from '../template/attributes.js';
import type { Queryable, Tx } from './db.js';
import type { ImageCopyTable } from './schema.js';

export type CopyRow = Selectable<ImageCopyTable>;

export interface CopyKey {
  readonly imageId: number;
  readonly incrementId: number;
  readonly datastoreId: number;
}

export const COPY_ATTRIBUTE = 'COPY_DATASTORE_ID';

/** The copy target of a datastore (its COPY_DATASTORE_ID), if it has one. */
export async function copyTargetOf(db: Queryable, datastoreId: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('datastores')
    .select('template')
    .where('id', '=', datastoreId)
    .executeTakeFirst();
  if (!row) return undefined;
  const v = storedSingle(row.template, COPY_ATTRIBUTE)?.trim();
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** Queues the copy of a just-recorded increment when its datastore has a copy target. */
export async function queueCopy(
  trx: Tx,
  inc: { imageId: number; incrementId: number; vmId: number; datastoreId: number; source: string },
  nowS: number,
): Promise<void> {
  const target = await copyTargetOf(trx, inc.datastoreId);
  if (target === undefined || target === inc.datastoreId) return;
  await trx
    .insertInto('image_copies')
    .values({
      image_id: inc.imageId,
      inc_id: inc.incrementId,
      datastore_id: target,
      vm_id: inc.vmId,
      source_datastore_id: inc.datastoreId,
      source: inc.source,
      state: 'PENDING',
      queued_at: nowS,
      time: nowS,
    })
    .onConflict((c) => c.doNothing())
    .execute();
}

/** Marks the copies of an image's increments (all, or those named) as DROPPED. */
export async function dropCopies(trx: Tx, imageId: number, incrementIds?: readonly number[]): Promise<void> {
  if (incrementIds !== undefined && incrementIds.length === 0) return;
  let q = trx.updateTable('image_copies').set({ state: 'DROPPED' }).where('image_id', '=', imageId);
  if (incrementIds !== undefined) q = q.where('inc_id', 'in', incrementIds);
  await q.execute();
}

const keyOf = (r: CopyRow): CopyKey => ({
  imageId: r.image_id,
  incrementId: r.inc_id,
  datastoreId: r.datastore_id,
});

export { keyOf as copyKeyOf };

/**
 * Copies to run now, oldest first: PENDING ones, and FAILED ones due (or all of them when
 * `retryAll`, after a backup). DROPPED rows come first: their manifests go before new copies.
 */
export async function copiesToRun(db: Queryable, nowS: number, retryAll: boolean): Promise<CopyRow[]> {
  const rows = await db
    .selectFrom('image_copies')
    .selectAll()
    .where((eb) =>
      eb.or([
        eb('state', '=', 'PENDING'),
        eb('state', '=', 'DROPPED'),
        retryAll
          ? eb('state', '=', 'FAILED')
          : eb.and([eb('state', '=', 'FAILED'), eb('next_at', '<=', nowS)]),
      ]),
    )
    .orderBy('image_id')
    .orderBy('inc_id')
    .execute();
  return [...rows.filter((r) => r.state === 'DROPPED'), ...rows.filter((r) => r.state !== 'DROPPED')];
}

/** When the next FAILED copy is due (epoch seconds), if any. */
export async function nextCopyRetry(db: Queryable): Promise<number | undefined> {
  const row = await db
    .selectFrom('image_copies')
    .select((eb) => eb.fn.min('next_at').as('at'))
    .where('state', '=', 'FAILED')
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
}

/**
 * The newest copied increment of the same VM from the same datastore to the same target whose
 * increment still exists: its manifests on both sides tell which source chunk is which target chunk.
 */
export async function previousCopy(db: Queryable, row: CopyRow): Promise<CopyRow | undefined> {
  return db
    .selectFrom('image_copies')
    .innerJoin('image_increments', (j) =>
      j
        .onRef('image_increments.image_id', '=', 'image_copies.image_id')
        .onRef('image_increments.inc_id', '=', 'image_copies.inc_id'),
    )
    .selectAll('image_copies')
    .where('image_copies.vm_id', '=', row.vm_id)
    .where('image_copies.datastore_id', '=', row.datastore_id)
    .where('image_copies.source_datastore_id', '=', row.source_datastore_id)
    .where('image_copies.state', '=', 'COPIED')
    .orderBy('image_copies.image_id', 'desc')
    .orderBy('image_copies.inc_id', 'desc')
    .executeTakeFirst();
}

/** The copy is in the target (unless it was dropped meanwhile: then the copier deletes it next). */
export async function recordCopied(
  trx: Tx,
  k: CopyKey,
  written: { chunks: number; bytes: number },
  nowS: number,
): Promise<void> {
  await trx
    .updateTable('image_copies')
    .set((eb) => ({
      state: 'COPIED',
      time: nowS,
      reason: '',
      attempts: eb('attempts', '+', 1),
      chunks_written: written.chunks,
      bytes_written: written.bytes,
    }))
    .where('state', '!=', 'DROPPED')
    .where('image_id', '=', k.imageId)
    .where('inc_id', '=', k.incrementId)
    .where('datastore_id', '=', k.datastoreId)
    .execute();
}

/** The copy failed: FAILED with the reason, tried again at `nextAt` or at the next backup. */
export async function recordCopyFailed(
  trx: Tx,
  k: CopyKey,
  reason: string,
  nowS: number,
  nextAt: number,
): Promise<void> {
  await trx
    .updateTable('image_copies')
    .set((eb) => ({ state: 'FAILED', time: nowS, reason, next_at: nextAt, attempts: eb('attempts', '+', 1) }))
    .where('state', '!=', 'DROPPED')
    .where('image_id', '=', k.imageId)
    .where('inc_id', '=', k.incrementId)
    .where('datastore_id', '=', k.datastoreId)
    .execute();
}

/** A dropped copy's manifest is gone from the target: the row goes. */
export async function forgetCopy(trx: Tx, k: CopyKey): Promise<void> {
  await trx
    .deleteFrom('image_copies')
    .where('state', '=', 'DROPPED')
    .where('image_id', '=', k.imageId)
    .where('inc_id', '=', k.incrementId)
    .where('datastore_id', '=', k.datastoreId)
    .execute();
}

/** The copies of these images (not the dropped ones), by image then increment. */
export async function copiesOfImages(db: Queryable, imageIds: readonly number[]): Promise<CopyRow[]> {
  if (imageIds.length === 0) return [];
  return db
    .selectFrom('image_copies')
    .selectAll()
    .where('image_id', 'in', imageIds)
    .where('state', '!=', 'DROPPED')
    .orderBy('image_id')
    .orderBy('datastore_id')
    .orderBy('inc_id')
    .execute();
}

/** Manifests of copies the target holds (GC keeps them and does not report them as unknown). */
export async function copiesOnDatastore(
  db: Queryable,
  datastoreId: number,
): Promise<{ imageId: number; incrementId: number; source: string }[]> {
  const rows = await db
    .selectFrom('image_copies')
    .select(['image_id', 'inc_id', 'source'])
    .where('datastore_id', '=', datastoreId)
    .where('state', '=', 'COPIED')
    .orderBy('image_id')
    .orderBy('inc_id')
    .execute();
  return rows.map((r) => ({ imageId: r.image_id, incrementId: r.inc_id, source: r.source }));
}

/**
 * The copy of an increment in `datastoreId` to restore from: COPIED, or an error naming its state
 * and what to do.
 */
export async function copyToRestore(db: Queryable, k: CopyKey): Promise<CopyRow> {
  const row = await db
    .selectFrom('image_copies')
    .selectAll()
    .where('image_id', '=', k.imageId)
    .where('inc_id', '=', k.incrementId)
    .where('datastore_id', '=', k.datastoreId)
    .executeTakeFirst();
  if (!row || row.state === 'DROPPED')
    throw new OneError(
      ErrorCode.ACTION,
      `image ${k.imageId} increment ${k.incrementId} has no copy in datastore ${k.datastoreId}; see the COPIES of oneimage show ${k.imageId}`,
    );
  if (row.state !== 'COPIED')
    throw new OneError(
      ErrorCode.ACTION,
      `image ${k.imageId} increment ${k.incrementId}: its copy in datastore ${k.datastoreId} is ${row.state}${row.reason ? ` (${row.reason})` : ''}; restore from its own datastore, or wait for the copy`,
    );
  return row;
}

/** The copied copy of an increment in any datastore, for a restore to fall back on. */
export async function anyCopied(
  db: Queryable,
  imageId: number,
  incrementId: number,
): Promise<CopyRow | undefined> {
  return db
    .selectFrom('image_copies')
    .selectAll()
    .where('image_id', '=', imageId)
    .where('inc_id', '=', incrementId)
    .where('state', '=', 'COPIED')
    .orderBy('datastore_id')
    .executeTakeFirst();
}

/** Datastores whose COPY_DATASTORE_ID is `id`, and whether copies live in it (refuses its delete). */
export async function copyUsers(db: Queryable, id: number): Promise<{ sources: number[]; copies: number }> {
  const all = await db.selectFrom('datastores').select(['id']).execute();
  const sources: number[] = [];
  for (const d of all) if ((await copyTargetOf(db, d.id)) === id) sources.push(d.id);
  const c = await db
    .selectFrom('image_copies')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('datastore_id', '=', id)
    .executeTakeFirst();
  return { sources, copies: Number(c?.n ?? 0) };
}

/** Every live copy's image, target, state, queue time and bytes written (metrics). */
export async function copyStates(
  db: Queryable,
): Promise<Pick<CopyRow, 'image_id' | 'datastore_id' | 'state' | 'queued_at' | 'bytes_written'>[]> {
  return db
    .selectFrom('image_copies')
    .select(['image_id', 'datastore_id', 'state', 'queued_at', 'bytes_written'])
    .where('state', '!=', 'DROPPED')
    .execute();
}
