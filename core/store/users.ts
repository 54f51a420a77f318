/**
 * Users: who may call the daemon. Passwords are stored only as scrypt hashes (hashing is the
 * service's job). IDs come from the `users` pool; oneadmin is user 0.
 */
import { ONEADMIN_GID, ONEADMIN_UID, USERS_GID } from '../model.js';
import { nextId, type Queryable, type Tx } from './db.js';
import type { LoginTokenTable, UserTable } from './schema.js';

export async function findUser(db: Queryable, id: number): Promise<UserTable | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findUserByName(db: Queryable, name: string): Promise<UserTable | undefined> {
  return db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
}

/** Every user by ID, or only user `onlyId` when given. */
export async function listUsers(db: Queryable, onlyId?: number): Promise<UserTable[]> {
  let q = db.selectFrom('users').selectAll().orderBy('id');
  if (onlyId !== undefined) q = q.where('id', '=', onlyId);
  return q.execute();
}

/** The IDs of the users whose primary group is `gid`, in order. */
export async function groupMemberIds(db: Queryable, gid: number): Promise<number[]> {
  const rows = await db.selectFrom('users').select('id').where('gid', '=', gid).orderBy('id').execute();
  return rows.map((r) => r.id);
}

/**
 * First start: groups oneadmin (0) and users (1), user oneadmin (0) with this password hash, and
 * the pools' counters (new groups from 100, new users from 2). The caller checks oneadmin is absent.
 */
export async function insertBootstrapAccounts(trx: Tx, oneadminPasswordHash: string): Promise<void> {
  await trx.insertInto('groups').values({ id: ONEADMIN_GID, name: 'oneadmin', template: '[]' }).execute();
  await trx.insertInto('groups').values({ id: USERS_GID, name: 'users', template: '[]' }).execute();
  await trx.insertInto('pool_ids').values({ pool: 'groups', last_id: 99 }).execute();
  await trx
    .insertInto('users')
    .values({
      id: ONEADMIN_UID,
      name: 'oneadmin',
      gid: ONEADMIN_GID,
      password_hash: oneadminPasswordHash,
      enabled: 1,
      template: '[]',
    })
    .execute();
  await trx.insertInto('pool_ids').values({ pool: 'users', last_id: 1 }).execute();
}

/** A new enabled user with the next ID of the pool; returns that ID. */
export async function insertUser(trx: Tx, name: string, gid: number, passwordHash: string): Promise<number> {
  const id = await nextId(trx, 'users');
  await trx
    .insertInto('users')
    .values({ id, name, gid, password_hash: passwordHash, enabled: 1, template: '[]' })
    .execute();
  return id;
}

/** Returns false when there is no user `id`. */
export async function setUserPasswordHash(trx: Tx, id: number, passwordHash: string): Promise<boolean> {
  const res = await trx
    .updateTable('users')
    .set({ password_hash: passwordHash })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Returns false when there is no user `id`. */
export async function deleteUser(trx: Tx, id: number): Promise<boolean> {
  await trx.deleteFrom('login_tokens').where('uid', '=', id).execute();
  const res = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Login tokens: one row per token, by the SHA-256 (hex) of its text. */
export type LoginTokenRow = LoginTokenTable;

/** The tokens of these users that have not expired at `now` (epoch seconds), oldest expiry first. */
export async function loginTokensOf(
  db: Queryable,
  uids: readonly number[],
  now: number,
): Promise<LoginTokenRow[]> {
  if (uids.length === 0) return [];
  return db
    .selectFrom('login_tokens')
    .selectAll()
    .where('uid', 'in', uids)
    .where((eb) => eb.or([eb('expiration', '=', -1), eb('expiration', '>', now)]))
    .orderBy('uid')
    .orderBy('token_hash')
    .execute();
}

/** The user's live token with this hash, if any. */
export async function findLoginToken(
  db: Queryable,
  uid: number,
  tokenHash: string,
  now: number,
): Promise<LoginTokenRow | undefined> {
  return db
    .selectFrom('login_tokens')
    .selectAll()
    .where('uid', '=', uid)
    .where('token_hash', '=', tokenHash)
    .where((eb) => eb.or([eb('expiration', '=', -1), eb('expiration', '>', now)]))
    .executeTakeFirst();
}

/**
 * Adds a token after dropping the user's expired ones; false when the user already has
 * `max` live tokens (oned's LoginTokenPool::MAX_TOKENS).
 */
export async function insertLoginToken(
  trx: Tx,
  token: LoginTokenRow,
  now: number,
  max: number,
): Promise<boolean> {
  await trx
    .deleteFrom('login_tokens')
    .where('uid', '=', token.uid)
    .where('expiration', '!=', -1)
    .where('expiration', '<=', now)
    .execute();
  const live = await trx
    .selectFrom('login_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('uid', '=', token.uid)
    .executeTakeFirst();
  if (Number(live?.n ?? 0) >= max) return false;
  await trx.insertInto('login_tokens').values(token).execute();
  return true;
}

/** Deletes one token (by hash) or, with no hash, all of the user's; returns how many went. */
export async function deleteLoginTokens(trx: Tx, uid: number, tokenHash?: string): Promise<number> {
  let q = trx.deleteFrom('login_tokens').where('uid', '=', uid);
  if (tokenHash !== undefined) q = q.where('token_hash', '=', tokenHash);
  return Number((await q.executeTakeFirst()).numDeletedRows);
}
