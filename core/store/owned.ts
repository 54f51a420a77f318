/**
 * Columns every owned object shares (hosts, datastores, VMs, images, backup jobs): load one by
 * ID, and the generic writes chmod, chown, lock, unlock and rename make. The permission and lock
 * rules live in core/services/objects.ts; these functions only read and write rows, and the
 * writes take the caller's transaction so its checks and writes commit together.
 */
import { DEFAULT_PERMISSION_BITS } from '../permissions.js';
import type { Queryable, Tx } from './db.js';
import type { OwnedColumns } from './schema.js';

export type OwnedTable = 'hosts' | 'datastores' | 'vms' | 'images' | 'backup_jobs';

/** Owner, default permissions (umask 177) and no lock: the columns every new object starts with. */
export function newObjectOwnership(owner: { readonly uid: number; readonly gid: number }) {
  return {
    uid: owner.uid,
    gid: owner.gid,
    permissions: DEFAULT_PERMISSION_BITS,
    lock_level: 0,
    lock_owner: -1,
    lock_time: 0,
    lock_req_id: -1,
  };
}

// Every owned table has the OwnedColumns; kysely types one of them (hosts) for the others.
const asHosts = (table: OwnedTable): 'hosts' => table as 'hosts';

export async function findOwned(
  db: Queryable,
  table: OwnedTable,
  id: number,
): Promise<OwnedColumns | undefined> {
  return db.selectFrom(asHosts(table)).selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The ID of another object of the table named `name`, if any. With `uid`, only that user's
 * objects count (names unique per owner); without, every object does.
 */
export async function findOwnedNameClash(
  db: Queryable,
  table: OwnedTable,
  name: string,
  exceptId: number,
  uid?: number,
): Promise<number | undefined> {
  let q = db.selectFrom(asHosts(table)).select('id').where('name', '=', name).where('id', '!=', exceptId);
  if (uid !== undefined) q = q.where('uid', '=', uid);
  return (await q.executeTakeFirst())?.id;
}

export async function setOwnedPermissions(
  trx: Tx,
  table: OwnedTable,
  id: number,
  bits: number,
): Promise<void> {
  await trx.updateTable(asHosts(table)).set({ permissions: bits }).where('id', '=', id).execute();
}

export async function setOwnedOwner(
  trx: Tx,
  table: OwnedTable,
  id: number,
  uid: number,
  gid: number,
): Promise<void> {
  await trx.updateTable(asHosts(table)).set({ uid, gid }).where('id', '=', id).execute();
}

export interface OwnedLock {
  readonly level: number;
  readonly owner: number;
  /** Epoch seconds. */
  readonly time: number;
  readonly reqId: number;
}

export async function setOwnedLock(trx: Tx, table: OwnedTable, id: number, lock: OwnedLock): Promise<void> {
  await trx
    .updateTable(asHosts(table))
    .set({ lock_level: lock.level, lock_owner: lock.owner, lock_time: lock.time, lock_req_id: lock.reqId })
    .where('id', '=', id)
    .execute();
}

/** Unlocks; lock_req_id keeps counting across locks. */
export async function clearOwnedLock(trx: Tx, table: OwnedTable, id: number): Promise<void> {
  await trx
    .updateTable(asHosts(table))
    .set({ lock_level: 0, lock_owner: -1, lock_time: 0 })
    .where('id', '=', id)
    .execute();
}

export async function setOwnedName(trx: Tx, table: OwnedTable, id: number, name: string): Promise<void> {
  await trx.updateTable(asHosts(table)).set({ name }).where('id', '=', id).execute();
}

/** Every user's and group's name by ID: the UNAME/GNAME of documents. */
export async function ownerNameMaps(
  db: Queryable,
): Promise<{ users: ReadonlyMap<number, string>; groups: ReadonlyMap<number, string> }> {
  const users = new Map(
    (await db.selectFrom('users').select(['id', 'name']).execute()).map((u) => [u.id, u.name]),
  );
  const groups = new Map(
    (await db.selectFrom('groups').select(['id', 'name']).execute()).map((g) => [g.id, g.name]),
  );
  return { users, groups };
}
