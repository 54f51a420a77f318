/**
 * Backup datastores: where backups are stored and how (driver, compression, encryption in the
 * template). A datastore's ID is taken before its row is written, because an encrypted one needs
 * its key made (outside the database) under that ID within the same transaction.
 */
import { decodeAttributes } from '../template/attributes.js';
import { nextId, type Queryable, type Tx } from './db.js';
import { newObjectOwnership } from './owned.js';
import type { DatastoreTable } from './schema.js';

export async function findDatastoreIdByName(db: Queryable, name: string): Promise<number | undefined> {
  return (await db.selectFrom('datastores').select('id').where('name', '=', name).executeTakeFirst())?.id;
}

/** A datastore by ID, if it exists. */
export function findDatastore(db: Queryable, id: number): Promise<DatastoreTable | undefined> {
  return db.selectFrom('datastores').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listDatastores(db: Queryable): Promise<DatastoreTable[]> {
  return db.selectFrom('datastores').selectAll().orderBy('id').execute();
}

/** The next datastore ID (100 first); insertDatastore with it in the same transaction. */
export async function takeDatastoreId(trx: Tx): Promise<number> {
  return nextId(trx, 'datastores', 100);
}

export interface NewDatastore {
  readonly id: number;
  readonly name: string;
  readonly owner: { readonly uid: number; readonly gid: number };
  /** Encoded template attributes (core/store/attributes). */
  readonly template: string;
  readonly type: string;
  readonly dsMad: string;
}

/** Writes a datastore owned by `owner` with default permissions, under an ID from takeDatastoreId. */
export async function insertDatastore(trx: Tx, ds: NewDatastore): Promise<void> {
  await trx
    .insertInto('datastores')
    .values({
      id: ds.id,
      name: ds.name,
      ...newObjectOwnership(ds.owner),
      template: ds.template,
      type: ds.type,
      ds_mad: ds.dsMad,
    })
    .execute();
}

export async function deleteDatastore(trx: Tx, id: number): Promise<void> {
  await trx.deleteFrom('datastores').where('id', '=', id).execute();
}

/** The IDs of the backup images kept in datastore `id`. */
export async function imageIdsInDatastore(db: Queryable, id: number): Promise<number[]> {
  const rows = await db.selectFrom('images').select('id').where('datastore_id', '=', id).execute();
  return rows.map((r) => r.id);
}

/** For each datastore that holds images: their IDs, in order. */
export async function imageIdsByDatastore(db: Queryable): Promise<ReadonlyMap<number, readonly number[]>> {
  const rows = await db.selectFrom('images').select(['id', 'datastore_id']).orderBy('id').execute();
  const out = new Map<number, number[]>();
  for (const r of rows) {
    const ids = out.get(r.datastore_id);
    if (ids) ids.push(r.id);
    else out.set(r.datastore_id, [r.id]);
  }
  return out;
}

/** The IDs of the backup jobs whose DATASTORE_ID is `id`. */
export async function jobIdsUsingDatastore(db: Queryable, id: number): Promise<number[]> {
  const jobs = await db.selectFrom('backup_jobs').select(['id', 'template']).execute();
  return jobs
    .filter((j) =>
      decodeAttributes(j.template).some(
        (a) => a.kind === 'single' && a.name === 'DATASTORE_ID' && a.value === String(id),
      ),
    )
    .map((j) => j.id);
}

/** A datastore as a driver opens it: ID, DS_MAD and its single-valued template attributes. */
export interface DatastoreSettings {
  readonly id: number;
  readonly dsMad: string;
  readonly attributes: ReadonlyMap<string, string>;
}

export function datastoreToOpen(row: DatastoreTable): DatastoreSettings {
  const attributes = new Map<string, string>();
  for (const a of decodeAttributes(row.template))
    if (a.kind === 'single' && !attributes.has(a.name)) attributes.set(a.name, a.value);
  return { id: row.id, dsMad: row.ds_mad, attributes };
}
