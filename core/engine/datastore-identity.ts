/**
 * A datastore's identity: the document its storage carries (which datastore it belongs to), and
 * the check every backup, restore, verify and GC makes before touching the storage, so two
 * datastores can never share storage and a GC never sweeps another datastore's backups.
 * Rules: the storage's UUID must be the datastore's DATASTORE_UUID; storage without a document
 * is claimed (the document written) only while it is empty; a datastore made before identities
 * existed (no DATASTORE_UUID) is checked only against a document naming another datastore ID.
 * The document also says how the datastore names its chunks (chunkIdsOf), which the check returns.
 */
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import {
  chunkIdsOf,
  DATASTORE_UUID,
  type DatastoreIdentity,
  IDENTITY_VERSION,
  newIdentity,
} from '../datastore-access.js';
import { ErrorCode, OneError } from '../errors.js';
import { type ChunkIdHash, isChunkIdHash } from '../model.js';

export const IDENTITY_FORMAT = 'onebackup-datastore';

export function encodeIdentity(identity: DatastoreIdentity): Buffer {
  return Buffer.from(`${JSON.stringify(identity, null, 1)}\n`);
}

export function decodeIdentity(bytes: Uint8Array, where: string): DatastoreIdentity {
  let doc: DatastoreIdentity;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as DatastoreIdentity;
  } catch (err) {
    throw new OneError(
      ErrorCode.ACTION,
      `${where}: the identity document is not JSON (${(err as Error).message})`,
    );
  }
  if (doc?.format !== IDENTITY_FORMAT || typeof doc.uuid !== 'string' || !Number.isInteger(doc.datastoreId))
    throw new OneError(
      ErrorCode.ACTION,
      `${where}: the identity document is not a onebackup datastore identity`,
    );
  if (doc.version > IDENTITY_VERSION)
    throw new OneError(
      ErrorCode.ACTION,
      `${where}: the identity format version ${doc.version} is newer than this onebackup (${IDENTITY_VERSION})`,
    );
  if (doc.chunkIds !== undefined && !isChunkIdHash(doc.chunkIds))
    throw new OneError(
      ErrorCode.ACTION,
      `${where}: the identity document names chunk IDs "${String(doc.chunkIds)}", which this onebackup does not know; upgrade onebackup`,
    );
  return doc;
}

/** The storage's identity, if it has one. */
export async function readIdentity(
  driver: DatastoreDriver,
  where: string,
): Promise<DatastoreIdentity | undefined> {
  const bytes = await driver.readIdentity();
  return bytes === undefined ? undefined : decodeIdentity(bytes, where);
}

/** The datastore's storage as error messages name it. */
export function storageName(ds: { id: number; attributes: ReadonlyMap<string, string> }): string {
  const base = ds.attributes.get('BASE_PATH');
  return `datastore ${ds.id}${base === undefined ? '' : ` (BASE_PATH ${base})`}`;
}

/**
 * Throws unless the driver's storage belongs to datastore `ds`; claims empty storage that has
 * no identity document yet. Returns how the datastore names its chunks.
 */
export async function checkIdentity(
  driver: DatastoreDriver,
  ds: { id: number; attributes: ReadonlyMap<string, string> },
  nowS: number,
): Promise<ChunkIdHash> {
  const expected = ds.attributes.get(DATASTORE_UUID);
  const where = storageName(ds);
  const found = await readIdentity(driver, where);
  const fix = `if the directory is right, delete datastore ${ds.id} (onedatastore delete) and attach the directory with onedatastore import; otherwise correct BASE_PATH`;
  if (found) {
    if (expected === undefined ? found.datastoreId === ds.id : found.uuid === expected)
      return chunkIdsOf(found);
    throw new OneError(
      ErrorCode.ACTION,
      `${where}: the storage belongs to another datastore (its identity says DATASTORE_UUID ${found.uuid}, datastore ${found.datastoreId}; this one is ${expected ?? 'from before identities'}); refusing to use it: ${fix}`,
    );
  }
  if (expected === undefined) return chunkIdsOf(undefined);
  if (!(await driver.isEmpty()))
    throw new OneError(
      ErrorCode.ACTION,
      `${where}: the storage holds backups but no identity document (onebackup-datastore.json), so it may be another datastore's; refusing to use it: ${fix}`,
    );
  const identity = newIdentity(expected, ds.id, nowS);
  await driver.writeIdentity(encodeIdentity(identity));
  return chunkIdsOf(identity);
}
