/**
 * Rules shared by every owned object (hosts, datastores, VMs, images, backup jobs): lookup,
 * permission and lock checks with OpenNebula's messages, chmod, chown, rename, lock, unlock.
 */
import { ErrorCode, OneError } from '../errors.js';
import type { ObjectKind, Operation } from '../model.js';
import {
  applyChmod,
  type ChmodArgs,
  isAuthorized,
  isBlockedByLock,
  type Permissions,
  permissionsFromBits,
  permissionsToBits,
  type Requester,
} from '../permissions.js';
import type { Tx } from '../store/db.js';
import { findGroup } from '../store/groups.js';
import {
  clearOwnedLock,
  findOwned,
  type OwnedTable,
  setOwnedLock,
  setOwnedName,
  setOwnedOwner,
  setOwnedPermissions,
} from '../store/owned.js';
import type { OwnedColumns } from '../store/schema.js';
import { findUser } from '../store/users.js';

export { newObjectOwnership, type OwnedTable } from '../store/owned.js';

export const KIND_OF_TABLE: Readonly<Record<OwnedTable, ObjectKind>> = {
  hosts: 'HOST',
  datastores: 'DATASTORE',
  vms: 'VM',
  images: 'IMAGE',
  backup_jobs: 'BACKUPJOB',
};

/** How OpenNebula names each kind in "Error getting <label> [id]." (RequestLogger). */
export const LABEL_OF_KIND: Readonly<Record<ObjectKind, string>> = {
  BACKUPJOB: 'backup job',
  VM: 'virtual machine',
  HOST: 'host',
  DATASTORE: 'datastore',
  IMAGE: 'image',
  USER: 'user',
  GROUP: 'group',
};

export function notFound(kind: ObjectKind, id: number): OneError {
  return new OneError(ErrorCode.NO_EXISTS, `Error getting ${LABEL_OF_KIND[kind]} [${id}].`);
}

export function notAuthorized(
  who: Requester,
  op: Operation | 'CREATE',
  kind: ObjectKind,
  id?: number,
): OneError {
  const target = id === undefined ? kind : `${kind} [${id}]`;
  return new OneError(
    ErrorCode.AUTHORIZATION,
    `User [${who.uid}] : Not authorized to perform ${op} ${target}.`,
  );
}

/** OpenNebula reports a lock as an authorization failure: `User [0] : BACKUPJOB is locked. [1].` */
export function lockedError(who: Requester, kind: ObjectKind, id: number): OneError {
  return new OneError(ErrorCode.AUTHORIZATION, `User [${who.uid}] : ${kind} is locked. [${id}].`);
}

export function ownedView(row: OwnedColumns): { uid: number; gid: number; permissions: Permissions } {
  return { uid: row.uid, gid: row.gid, permissions: permissionsFromBits(row.permissions) };
}

export async function loadOwned(trx: Tx, table: OwnedTable, id: number): Promise<OwnedColumns> {
  const row = await findOwned(trx, table, id);
  if (!row) throw notFound(KIND_OF_TABLE[table], id);
  return row;
}

/** Checks the lock, then the permission bits, for one operation on one object. */
export function authorize(
  who: Requester,
  table: OwnedTable,
  row: OwnedColumns,
  op: Operation | 'INFO',
): void {
  const kind = KIND_OF_TABLE[table];
  if (isBlockedByLock(row.lock_level, op)) throw lockedError(who, kind, row.id);
  const needed: Operation = op === 'INFO' ? 'USE' : op;
  if (!isAuthorized(who, ownedView(row), needed)) throw notAuthorized(who, needed, kind, row.id);
}

/** Loads and authorizes in one step. */
export async function loadAuthorized(
  trx: Tx,
  who: Requester,
  table: OwnedTable,
  id: number,
  op: Operation | 'INFO',
): Promise<OwnedColumns> {
  const row = await loadOwned(trx, table, id);
  authorize(who, table, row, op);
  return row;
}

export function requireAdmin(who: Requester, op: Operation | 'CREATE', kind: ObjectKind, id?: number): void {
  if (!who.isAdmin) throw notAuthorized(who, op, kind, id);
}

/** chmod: MANAGE, and ADMIN when any admin bit is touched (OpenNebula's rule). */
export async function chmodObject(
  trx: Tx,
  who: Requester,
  table: OwnedTable,
  id: number,
  args: ChmodArgs,
): Promise<void> {
  for (const v of args) {
    if (v !== -1 && v !== 0 && v !== 1) {
      throw new OneError(ErrorCode.ACTION, `permission values must be -1 (keep), 0 or 1; got ${v}`);
    }
  }
  const touchesAdmin = args[2] !== -1 || args[5] !== -1 || args[8] !== -1;
  const row = await loadAuthorized(trx, who, table, id, touchesAdmin ? 'ADMIN' : 'MANAGE');
  const next = applyChmod(permissionsFromBits(row.permissions), args);
  await setOwnedPermissions(trx, table, id, permissionsToBits(next));
}

/** chown: ADMIN; -1 keeps the current user or group. Non-admins may only give to a group they are in. */
export async function chownObject(
  trx: Tx,
  who: Requester,
  table: OwnedTable,
  id: number,
  uid: number,
  gid: number,
): Promise<void> {
  const row = await loadOwned(trx, table, id);
  const kind = KIND_OF_TABLE[table];
  if (isBlockedByLock(row.lock_level, 'ADMIN')) throw lockedError(who, kind, id);
  if (uid !== -1 && !who.isAdmin) throw notAuthorized(who, 'ADMIN', kind, id);
  if (!isAuthorized(who, ownedView(row), uid !== -1 ? 'ADMIN' : 'MANAGE')) {
    throw notAuthorized(who, 'ADMIN', kind, id);
  }
  let newGid = gid === -1 ? row.gid : gid;
  const newUid = uid === -1 ? row.uid : uid;
  if (uid !== -1) {
    const user = await findUser(trx, uid);
    if (!user) throw notFound('USER', uid);
    if (gid === -1) newGid = user.gid;
  }
  if (gid !== -1) {
    const group = await findGroup(trx, gid);
    if (!group) throw notFound('GROUP', gid);
    if (!who.isAdmin && gid !== who.gid) throw notAuthorized(who, 'MANAGE', 'GROUP', gid);
  }
  await setOwnedOwner(trx, table, id, newUid, newGid);
}

export async function lockObject(
  trx: Tx,
  who: Requester,
  table: OwnedTable,
  id: number,
  level: number,
  test: boolean,
  now: number,
): Promise<void> {
  if (!Number.isInteger(level) || level < 1 || level > 4) {
    throw new OneError(
      ErrorCode.ACTION,
      `Wrong lock level specified: lock level must be 1 (use), 2 (manage), 3 (admin) or 4 (all); got ${level}`,
    );
  }
  const row = await loadOwned(trx, table, id);
  const kind = KIND_OF_TABLE[table];
  if (!isAuthorized(who, ownedView(row), 'MANAGE')) throw notAuthorized(who, 'MANAGE', kind, id);
  if (row.lock_level > 0 && test) {
    throw new OneError(
      ErrorCode.ACTION,
      `${kind} [${id}] is already locked (level ${row.lock_level}) by user ${row.lock_owner}`,
    );
  }
  await setOwnedLock(trx, table, id, { level, owner: who.uid, time: now, reqId: row.lock_req_id + 1 });
}

export async function unlockObject(trx: Tx, who: Requester, table: OwnedTable, id: number): Promise<void> {
  const row = await loadOwned(trx, table, id);
  const kind = KIND_OF_TABLE[table];
  if (!isAuthorized(who, ownedView(row), 'MANAGE')) throw notAuthorized(who, 'MANAGE', kind, id);
  if (row.lock_level > 0 && !who.isAdmin && row.lock_owner !== who.uid) {
    throw new OneError(
      ErrorCode.ACTION,
      `Cannot unlock: Lock is owned by another user (user ${row.lock_owner})`,
    );
  }
  await clearOwnedLock(trx, table, id);
}

/** Names: OpenNebula's rules (PoolObjectSQL::name_is_valid). */
const FORBIDDEN_NAME_CHARS = [
  '&',
  '|',
  ':',
  '\\',
  '"',
  ';',
  '/',
  "'",
  '#',
  '{',
  '}',
  '$',
  '<',
  '>',
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
];

export function checkName(name: string): string | undefined {
  if (name.length === 0) return 'Invalid NAME, it cannot be empty';
  for (const ch of name) {
    if (FORBIDDEN_NAME_CHARS.includes(ch)) {
      const shown =
        ch === '\t'
          ? '\\t'
          : ch === '\n'
            ? '\\n'
            : ch === '\r'
              ? '\\r'
              : ch === '\v'
                ? '\\v'
                : ch === '\f'
                  ? '\\f'
                  : ch;
      return `Invalid NAME, char '${shown}' is not allowed`;
    }
  }
  if (name.length > 128) return 'Invalid NAME, max length is 128 chars';
  return undefined;
}

export async function renameObject(
  trx: Tx,
  who: Requester,
  table: OwnedTable,
  id: number,
  name: string,
  collides: (trx: Tx, row: OwnedColumns, name: string) => Promise<number | undefined>,
): Promise<void> {
  const row = await loadAuthorized(trx, who, table, id, 'MANAGE');
  if (row.name === name) return;
  const problem = checkName(name);
  if (problem) throw new OneError(ErrorCode.ACTION, problem);
  const other = await collides(trx, row, name);
  if (other !== undefined) {
    const label = LABEL_OF_KIND[KIND_OF_TABLE[table]];
    throw new OneError(
      ErrorCode.ACTION,
      `${label} cannot be renamed to ${name} because it collides with ${label} ${other}`,
    );
  }
  await setOwnedName(trx, table, id, name);
}

/** The arguments of `one.<kind>pool.info` as oned reads them (PoolSharedAPI::dump). */
export interface PoolQuery {
  /** -2 all the caller may use, -3 the caller's own, -1 own plus the caller's group's, -4 the caller's group's, n >= 0 user n's. */
  readonly filter: number;
  /** First ID (end >= -1), or the offset of a page (end < -1); -1 = from the first. */
  readonly start: number;
  /** Last ID (-1 = no bound), or -n: a page of n objects from offset `start`. */
  readonly end: number;
}

export const WHOLE_POOL: PoolQuery = Object.freeze({ filter: -2, start: -1, end: -1 });

/**
 * The rows a pool call lists, in the pool's order, before paging (pageOf): oned's user filter
 * (PoolSQL::usr_filter) and ID range (PoolSQL::oid_filter: only when start is not -1 and end is
 * -1 or more; end -1 leaves the range open above). A filter below -4 is refused as oned does.
 */
export function visibleInPool<T extends OwnedColumns>(rows: readonly T[], who: Requester, q: PoolQuery): T[] {
  const { filter, start, end } = q;
  if (!Number.isInteger(filter) || filter < -4) {
    throw new OneError(ErrorCode.RPC_API, `Incorrect filter_flag ${filter}: use -4, -3, -2, -1 or a user ID`);
  }
  const ranged = end >= -1 && start !== -1;
  return rows.filter((row) => {
    if (ranged && (row.id < start || (end !== -1 && row.id > end))) return false;
    const mayUse = isAuthorized(who, ownedView(row), 'USE');
    if (filter === -3) return row.uid === who.uid;
    if (filter === -1) return row.uid === who.uid || (row.gid === who.gid && mayUse);
    if (filter === -4) return row.gid === who.gid && mayUse;
    if (filter >= 0) return row.uid === filter && mayUse;
    return mayUse;
  });
}

/** A page of `-end` items from offset `start` when end < -1 (SQL `LIMIT start, -end`), else all. */
export function pageOf<T>(items: readonly T[], q: PoolQuery): T[] {
  if (q.end >= -1) return [...items];
  const from = Math.max(0, q.start);
  return items.slice(from, from + -q.end);
}
