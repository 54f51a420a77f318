/**
 * Backup images and their increments: the reads `oneimage` and restores need, the increments a
 * datastore's GC and verify walk, and deleting an image with its increments. The datastore
 * lookups these need (names, whether one is a backup datastore) live here too.
 */
import { decodeAttributes, encodeAttributes, setSingle } from '../template/attributes.js';
import { copiesOnDatastore, dropCopies } from './copies.js';
import type { Queryable, Tx } from './db.js';
import type { ImageIncrementTable, ImageTable } from './schema.js';

export type ImageRow = ImageTable;
export type IncrementRow = ImageIncrementTable;

export async function findImage(db: Queryable, id: number): Promise<ImageRow | undefined> {
  return db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every image, newest first (the order of `oneimage list`). */
export async function listImages(db: Queryable): Promise<ImageRow[]> {
  return db.selectFrom('images').selectAll().orderBy('id', 'desc').execute();
}

/** The increments of these images, by increment ID. */
export async function incrementsOfImages(
  db: Queryable,
  imageIds: readonly number[],
): Promise<IncrementRow[]> {
  if (imageIds.length === 0) return [];
  return db
    .selectFrom('image_increments')
    .selectAll()
    .where('image_id', 'in', imageIds)
    .orderBy('inc_id')
    .execute();
}

/** An increment a datastore holds: where its manifest is. */
export interface IncrementManifest {
  readonly imageId: number;
  readonly incrementId: number;
  /** Manifest path in the datastore. */
  readonly source: string;
}

/**
 * The increments the store references on a datastore (optionally of one image, or one increment
 * of it), by image then increment: what GC keeps and verify checks.
 */
export async function incrementsOnDatastore(
  db: Queryable,
  datastoreId: number,
  scope: { readonly imageId?: number; readonly incrementId?: number } = {},
): Promise<IncrementManifest[]> {
  let q = db
    .selectFrom('image_increments')
    .innerJoin('images', 'images.id', 'image_increments.image_id')
    .select(['image_increments.image_id', 'image_increments.inc_id', 'image_increments.source'])
    .where('images.datastore_id', '=', datastoreId);
  if (scope.imageId !== undefined) q = q.where('images.id', '=', scope.imageId);
  if (scope.incrementId !== undefined) q = q.where('image_increments.inc_id', '=', scope.incrementId);
  const rows = await q.orderBy('image_increments.image_id').orderBy('image_increments.inc_id').execute();
  return rows.map((r) => ({ imageId: r.image_id, incrementId: r.inc_id, source: r.source }));
}

/**
 * Every manifest the store references on a datastore: its own increments, then the copies of
 * other datastores' increments it holds (COPY_DATASTORE_ID): what a GC of it keeps.
 */
export async function manifestsOnDatastore(db: Queryable, datastoreId: number): Promise<IncrementManifest[]> {
  return [...(await incrementsOnDatastore(db, datastoreId)), ...(await copiesOnDatastore(db, datastoreId))];
}

/**
 * Deletes an image and its increments; returns the datastore and the manifests they named, for
 * the caller to drop once this commits (chunks go at the next GC). Throws if there is no image.
 */
export async function deleteImage(trx: Tx, id: number): Promise<{ datastoreId: number; sources: string[] }> {
  const image = await trx
    .selectFrom('images')
    .select('datastore_id')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  const incs = await trx.selectFrom('image_increments').select('source').where('image_id', '=', id).execute();
  await dropCopies(trx, id);
  await trx.deleteFrom('image_increments').where('image_id', '=', id).execute();
  await trx.deleteFrom('images').where('id', '=', id).execute();
  return { datastoreId: image.datastore_id, sources: incs.map((i) => i.source) };
}

/** Datastore names by ID, for the DATASTORE of image documents. */
export async function datastoreNamesById(db: Queryable): Promise<Map<number, string>> {
  const rows = await db.selectFrom('datastores').select(['id', 'name']).execute();
  return new Map(rows.map((d) => [d.id, d.name]));
}

/** Whether the datastore holds backups (TYPE BACKUP_DS); false when there is no such datastore. */
export async function isBackupDatastore(db: Queryable, id: number): Promise<boolean> {
  const row = await db.selectFrom('datastores').select('type').where('id', '=', id).executeTakeFirst();
  return row?.type === 'BACKUP_DS';
}

/** An image's STATE when a verify found it broken (OpenNebula's ERROR); READY is 1. */
export const IMAGE_STATE_ERROR = 5;
const IMAGE_STATE_READY = 1;

/**
 * What a verify found, per image it read: a whole image is READY with verified_at = now and no
 * ERROR; a broken one is ERROR with the reason in its ERROR attribute ("<ctime> : [verify] ...").
 */
export async function recordVerifyResults(
  trx: Tx,
  checked: readonly number[],
  broken: ReadonlyMap<number, string>,
  nowS: number,
  ctime: string,
): Promise<void> {
  for (const id of new Set(checked)) {
    const row = await trx.selectFrom('images').select('template').where('id', '=', id).executeTakeFirst();
    if (!row) continue;
    const reason = broken.get(id);
    let t = decodeAttributes(row.template).filter((a) => a.name !== 'ERROR');
    if (reason !== undefined) t = setSingle(t, 'ERROR', `${ctime} : [verify] ${reason}`);
    await trx
      .updateTable('images')
      .set({
        template: encodeAttributes(t),
        state: reason === undefined ? IMAGE_STATE_READY : IMAGE_STATE_ERROR,
        ...(reason === undefined ? { verified_at: nowS } : {}),
      })
      .where('id', '=', id)
      .execute();
  }
}
