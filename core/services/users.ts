/**
 * Users and groups: bootstrap of oneadmin, authentication of session strings, and the user and
 * group calls. Passwords are kept only as scrypt hashes. Verified sessions are cached in memory,
 * keyed by an HMAC of the session string under a key made at start (the password itself is never
 * kept), with the user's ID and stored hash: a call whose user row is missing, disabled or has
 * another hash (a password change, even by another process) checks the password again, so a
 * cached session costs one indexed read and no scrypt. Failed logins are throttled per user name
 * and per client address (login-throttle.ts); a cached session is never throttled.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { ErrorCode, OneError } from '../errors.js';
import { ONEADMIN_GID, ONEADMIN_UID, USERS_GID } from '../model.js';
import type { Requester } from '../permissions.js';
import { findGroup, findGroupByName, insertGroup, listGroups } from '../store/groups.js';
import type { GroupTable, UserTable } from '../store/schema.js';
import {
  deleteLoginTokens,
  deleteUser,
  findLoginToken,
  findUser,
  findUserByName,
  groupMemberIds,
  insertBootstrapAccounts,
  insertLoginToken,
  insertUser,
  listUsers,
  loginTokensOf,
  setUserPasswordHash,
} from '../store/users.js';
import type { ServiceDeps } from './context.js';
import { LoginThrottle } from './login-throttle.js';
import { checkName, notAuthorized, notFound } from './objects.js';
import { generatePassword, type PasswordHasher, scryptHasher } from './passwords.js';

export interface UserView {
  readonly user: UserTable;
  readonly gname: string;
  /** The user's live login tokens, by the SHA-256 (hex) of their text. */
  readonly tokens: readonly { tokenHash: string; expiration: number; egid: number }[];
}

/** oned's LoginTokenPool::MAX_TOKENS. */
export const MAX_LOGIN_TOKENS = 10;
/** Longest token lifetime (oned's MAX_TOKEN_TIME of the core driver): -1, no limit. */
export const MAX_TOKEN_TIME = -1;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export interface GroupView {
  readonly group: GroupTable;
  readonly members: readonly number[];
}

const AUTH_FAILED = "User couldn't be authenticated, aborting call.";
/** Verified sessions kept; past this the oldest are dropped (and verified again when used). */
const MAX_SESSIONS = 10_000;

export interface UserServiceOptions {
  readonly hasher?: PasswordHasher;
  readonly throttle?: LoginThrottle;
}

export class UserService {
  /** HMAC of a verified session string → the user and the password hash it was verified against. */
  readonly #sessions = new Map<string, { uid: number; hash: string }>();
  readonly #sessionKey = randomBytes(32);
  readonly #hasher: PasswordHasher;
  readonly #throttle: LoginThrottle;
  /** Password checks under way per user name (a second one at once is suspect). */
  readonly #checking = new Map<string, number>();

  constructor(
    private readonly deps: ServiceDeps,
    options: UserServiceOptions = {},
  ) {
    this.#hasher = options.hasher ?? scryptHasher;
    this.#throttle = options.throttle ?? new LoginThrottle({ now: () => deps.clock.now() });
  }

  /**
   * First start: groups oneadmin (0) and users (1), user oneadmin (0) with a generated password.
   * Returns that password when it was just created, so the daemon can write the auth file.
   */
  async bootstrap(): Promise<string | undefined> {
    const password = generatePassword();
    const hash = await this.#hasher.hash(password);
    return this.deps.store.tx(async (trx) => {
      if (await findUser(trx, ONEADMIN_UID)) return undefined;
      await insertBootstrapAccounts(trx, hash);
      return password;
    });
  }

  /**
   * `user:password` → who is calling. Throws AUTHENTICATION on anything else, and when the user
   * name or the client `address` failed too often lately (with how long to wait).
   */
  async authenticate(session: string, address = ''): Promise<Requester> {
    const colon = session.indexOf(':');
    if (colon <= 0) throw new OneError(ErrorCode.AUTHENTICATION, AUTH_FAILED);
    const name = session.slice(0, colon);
    const key = createHmac('sha256', this.#sessionKey).update(session).digest('base64');
    const row = await findUserByName(this.deps.store.db, name);
    const cached = this.#sessions.get(key);
    if (row?.enabled !== 1 || cached?.uid !== row.id || cached.hash !== row.password_hash) {
      if (cached) this.#sessions.delete(key);
      const refusal = this.#throttle.check(name, address);
      if (refusal) {
        const seconds = Math.ceil(refusal.waitMs / 1000);
        const who = refusal.kind === 'user' ? `for user ${name}` : `from address ${address}`;
        throw new OneError(
          ErrorCode.AUTHENTICATION,
          `${AUTH_FAILED} Too many failed logins ${who}; try again in ${seconds} s.`,
        );
      }
      const secret = session.slice(colon + 1);
      // A login token (one.user.login) stands for the password until it expires; checked first
      // because it costs one indexed read where the password costs a scrypt. Never cached.
      const token =
        row?.enabled === 1
          ? await findLoginToken(this.deps.store.db, row.id, sha256(secret), this.#nowSeconds())
          : undefined;
      if (row && token) {
        this.#throttle.succeeded(name);
        return this.#requester(row, token.egid);
      }
      const ok = row?.enabled === 1 && (await this.#check(name, secret, row.password_hash));
      if (!ok || !row) {
        this.#throttle.failed(name, address);
        throw new OneError(ErrorCode.AUTHENTICATION, AUTH_FAILED);
      }
      this.#throttle.succeeded(name);
      if (this.#sessions.size >= MAX_SESSIONS) {
        const oldest = this.#sessions.keys().next().value;
        if (oldest !== undefined) this.#sessions.delete(oldest);
      }
      this.#sessions.set(key, { uid: row.id, hash: row.password_hash });
    }
    return this.#requester(row, -1);
  }

  /** Who calls: the user, acting as group `egid` (a scoped token) or, with -1, as their own. */
  async #requester(row: UserTable, egid: number): Promise<Requester> {
    const gid = egid >= 0 ? egid : row.gid;
    const group = await findGroup(this.deps.store.db, gid);
    return Object.freeze({
      uid: row.id,
      gid,
      uname: row.name,
      gname: group?.name ?? String(gid),
      isAdmin: row.id === ONEADMIN_UID || gid === ONEADMIN_GID,
    });
  }

  #nowSeconds(): number {
    return Math.floor(this.deps.clock.now() / 1000);
  }

  /**
   * `one.user.login`: a token for user `uname` valid `valid` seconds (-1: until deleted), acting
   * as group `egid` (-1: the user's own); returns the token. `valid` 0 deletes `token`, or every
   * token of the user when `token` is empty. The caller needs MANAGE on the user (themselves, or
   * an admin), as in oned. Only the token's SHA-256 is stored.
   */
  async login(who: Requester, uname: string, token: string, valid: number, egid: number): Promise<string> {
    const now = this.#nowSeconds();
    return this.deps.store.tx(async (trx) => {
      const user = await findUserByName(trx, uname);
      if (!user) throw new OneError(ErrorCode.NO_EXISTS, `Error getting user [${uname}].`);
      if (!who.isAdmin && who.uid !== user.id) throw notAuthorized(who, 'MANAGE', 'USER', user.id);
      if (valid === 0) {
        if (token === '') await deleteLoginTokens(trx, user.id);
        else if (
          (await deleteLoginTokens(trx, user.id, sha256(token))) === 0 &&
          (await deleteLoginTokens(trx, user.id, token)) === 0
        )
          throw new OneError(ErrorCode.RPC_API, `Could not find token: ${token}`);
        return token;
      }
      if (valid < -1) throw new OneError(ErrorCode.RPC_API, 'Wrong valid period for token');
      if (egid !== -1 && egid !== user.gid)
        throw new OneError(ErrorCode.RPC_API, 'EGID is not in user group list');
      if (/\s|:/.test(token))
        throw new OneError(ErrorCode.RPC_API, 'a token cannot contain spaces or colons');
      const lifetime =
        MAX_TOKEN_TIME > 0 && (valid === -1 || valid > MAX_TOKEN_TIME) ? MAX_TOKEN_TIME : valid;
      const text = token === '' ? randomBytes(20).toString('hex') : token;
      const added = await insertLoginToken(
        trx,
        {
          uid: user.id,
          token_hash: sha256(text),
          // Whole seconds, rounded up: a token lives at least `valid` seconds, never less (a
          // 1-second token made late in a second would otherwise die within milliseconds).
          expiration: lifetime === -1 ? -1 : Math.ceil(this.deps.clock.now() / 1000) + lifetime,
          egid,
        },
        now,
        MAX_LOGIN_TOKENS,
      );
      if (!added) throw new OneError(ErrorCode.RPC_API, 'Max number of tokens limit reached.');
      return text;
    });
  }

  async #check(name: string, password: string, stored: string): Promise<boolean> {
    const under = this.#checking.get(name) ?? 0;
    this.#checking.set(name, under + 1);
    try {
      return await this.#hasher.verify(password, stored, under > 0 || this.#throttle.hasFailed(name));
    } finally {
      const left = (this.#checking.get(name) ?? 1) - 1;
      if (left > 0) this.#checking.set(name, left);
      else this.#checking.delete(name);
    }
  }

  private forget(uid: number): void {
    for (const [key, value] of this.#sessions) if (value.uid === uid) this.#sessions.delete(key);
  }

  async allocate(who: Requester, name: string, password: string, gids: readonly number[]): Promise<number> {
    if (!who.isAdmin) throw notAuthorized(who, 'CREATE', 'USER');
    const problem = checkName(name);
    if (problem) throw new OneError(ErrorCode.ALLOCATE, problem);
    if (password.length === 0) throw new OneError(ErrorCode.ALLOCATE, 'Invalid password, it cannot be empty');
    if (/\s/.test(password))
      throw new OneError(ErrorCode.ALLOCATE, 'Invalid password, it cannot contain spaces');
    const hash = await this.#hasher.hash(password);
    return this.deps.store.tx(async (trx) => {
      const clash = await findUserByName(trx, name);
      if (clash) throw new OneError(ErrorCode.ALLOCATE, `NAME is already taken by USER ${clash.id}.`);
      const gid = gids[0] ?? USERS_GID;
      if (!(await findGroup(trx, gid))) throw notFound('GROUP', gid);
      return insertUser(trx, name, gid, hash);
    });
  }

  async passwd(who: Requester, id: number, password: string): Promise<void> {
    if (!who.isAdmin && who.uid !== id) throw notAuthorized(who, 'MANAGE', 'USER', id);
    if (password.length === 0) throw new OneError(ErrorCode.ACTION, 'Invalid password, it cannot be empty');
    if (/\s/.test(password))
      throw new OneError(ErrorCode.ACTION, 'Invalid password, it cannot contain spaces');
    const hash = await this.#hasher.hash(password);
    await this.deps.store.tx(async (trx) => {
      if (!(await setUserPasswordHash(trx, id, hash))) throw notFound('USER', id);
    });
    this.forget(id);
  }

  async delete(who: Requester, id: number): Promise<void> {
    if (!who.isAdmin) throw notAuthorized(who, 'ADMIN', 'USER', id);
    if (id === ONEADMIN_UID) throw new OneError(ErrorCode.ACTION, 'oneadmin cannot be deleted');
    await this.deps.store.tx(async (trx) => {
      if (!(await deleteUser(trx, id))) throw notFound('USER', id);
    });
    this.forget(id);
  }

  async info(who: Requester, id: number): Promise<UserView> {
    const target = id === -1 ? who.uid : id;
    if (!who.isAdmin && who.uid !== target) throw notAuthorized(who, 'USE', 'USER', target);
    const row = await findUser(this.deps.store.db, target);
    if (!row) throw notFound('USER', target);
    return this.view(row);
  }

  async pool(who: Requester): Promise<UserView[]> {
    const rows = await listUsers(this.deps.store.db, who.isAdmin ? undefined : who.uid);
    return Promise.all(rows.map((r) => this.view(r)));
  }

  private async view(user: UserTable): Promise<UserView> {
    const db = this.deps.store.db;
    const g = await findGroup(db, user.gid);
    const tokens = await loginTokensOf(db, [user.id], this.#nowSeconds());
    return {
      user,
      gname: g?.name ?? String(user.gid),
      tokens: tokens.map((t) => ({ tokenHash: t.token_hash, expiration: t.expiration, egid: t.egid })),
    };
  }

  async allocateGroup(who: Requester, name: string): Promise<number> {
    if (!who.isAdmin) throw notAuthorized(who, 'CREATE', 'GROUP');
    const problem = checkName(name);
    if (problem) throw new OneError(ErrorCode.ALLOCATE, problem);
    return this.deps.store.tx(async (trx) => {
      const clash = await findGroupByName(trx, name);
      if (clash) throw new OneError(ErrorCode.ALLOCATE, `NAME is already taken by GROUP ${clash.id}.`);
      return insertGroup(trx, name);
    });
  }

  async groupInfo(who: Requester, id: number): Promise<GroupView> {
    const target = id === -1 ? who.gid : id;
    if (!who.isAdmin && who.gid !== target) throw notAuthorized(who, 'USE', 'GROUP', target);
    const group = await findGroup(this.deps.store.db, target);
    if (!group) throw notFound('GROUP', target);
    return this.groupView(group);
  }

  async groupPool(who: Requester): Promise<GroupView[]> {
    const groups = await listGroups(this.deps.store.db, who.isAdmin ? undefined : who.gid);
    return Promise.all(groups.map((g) => this.groupView(g)));
  }

  private async groupView(group: GroupTable): Promise<GroupView> {
    return { group, members: await groupMemberIds(this.deps.store.db, group.id) };
  }
}
