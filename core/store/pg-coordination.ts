/**
 * Coordination between daemons on one PostgreSQL database (issue 15, item 3), over one
 * connection of its own beside the pool: the leader lock and datastore locks are session advisory
 * locks on it, change notices arrive on it (LISTEN onebackup, sent by triggers at commit, see
 * pg-notices.ts), and a daemon holds the daemon lock shared on it (`onebackupd db-copy` takes it
 * exclusive). When that connection breaks, every lock it held is gone at once: listeners hear
 * `false` and must stop leading and stop writing; the next lead() connects again.
 *
 * The server drops a cut connection (and so frees its locks) within about half the lease:
 * TCP keepalives and tcp_user_timeout are set per session. Queries on it time out after a third
 * of the lease, so a silent network does not hang the heartbeat.
 */
import pg from 'pg';
import type { Coordination, DatastoreLock, DatastoreLockMode } from './db.js';

/** Advisory lock keys, in the database's own key space (postgres.ts has the others). */
export const DAEMON_LOCK = 0x6f6e6264; // 'onbd'
const LEADER_LOCK = 0x6f6e6c64; // 'onld'
const DATASTORE_LOCKS = 0x6f6e6473; // 'onds'
export const NOTICE_CHANNEL = 'onebackup';

export interface PgCoordinationOptions {
  readonly client: pg.ClientConfig;
  readonly leaseMs: number;
  /** This daemon's application_name: its own notices are not delivered back to it. */
  readonly self: string;
  /** Thrown when the daemon lock is held exclusively (a db-copy runs). */
  readonly refused: (holder: string) => Error;
}

export class PgCoordination implements Coordination {
  readonly shared = true;
  readonly #o: PgCoordinationOptions;
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  #leading = false;
  #closed = false;
  readonly #noticeListeners: ((notice: string) => void)[] = [];
  readonly #connectionListeners: ((up: boolean) => void)[] = [];

  constructor(options: PgCoordinationOptions) {
    this.#o = options;
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Connects now (a daemon's start: the daemon lock is taken, or refused, before anything else). */
  async connect(): Promise<void> {
    await this.#get();
  }

  async lead(): Promise<boolean> {
    const client = await this.#get();
    try {
      if (this.#leading) {
        await client.query('select 1');
        return true;
      }
      const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [
        LEADER_LOCK,
      ]);
      this.#leading = r.rows[0]?.ok === true;
      return this.#leading;
    } catch (err) {
      this.#lost(client);
      throw err;
    }
  }

  onNotice(listener: (notice: string) => void): void {
    this.#noticeListeners.push(listener);
  }

  onConnection(listener: (up: boolean) => void): void {
    this.#connectionListeners.push(listener);
  }

  async lockDatastore(id: number, mode: DatastoreLockMode): Promise<DatastoreLock | undefined> {
    const client = await this.#get();
    const fn = mode === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock';
    let got: boolean;
    try {
      const r = await client.query<{ ok: boolean }>(`select ${fn}($1::int, $2::int) as ok`, [
        DATASTORE_LOCKS,
        id,
      ]);
      got = r.rows[0]?.ok === true;
    } catch (err) {
      this.#lost(client);
      throw err;
    }
    if (!got) return undefined;
    const unlock = mode === 'shared' ? 'pg_advisory_unlock_shared' : 'pg_advisory_unlock';
    let released = false;
    return {
      release: async () => {
        // A lock of a connection that broke went with it; a new connection holds other locks.
        if (released || this.#client !== client) return;
        released = true;
        await client
          .query(`select ${unlock}($1::int, $2::int)`, [DATASTORE_LOCKS, id])
          .catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #get(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new Error('the state database is closed'));
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().then(
      (client) => {
        this.#connecting = undefined;
        if (this.#closed) {
          void client.end().catch(() => undefined);
          throw new Error('the state database is closed');
        }
        this.#client = client;
        for (const l of this.#connectionListeners) l(true);
        return client;
      },
      (err: unknown) => {
        this.#connecting = undefined;
        throw err;
      },
    );
    return this.#connecting;
  }

  async #connect(): Promise<pg.Client> {
    const { leaseMs } = this.#o;
    const client = new pg.Client({
      ...this.#o.client,
      keepAliveInitialDelayMillis: Math.max(1000, Math.floor(leaseMs / 6)),
      query_timeout: Math.floor(leaseMs / 3),
    });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (m) => {
      if (m.channel !== NOTICE_CHANNEL || !m.payload) return;
      const space = m.payload.indexOf(' ');
      const notice = space < 0 ? m.payload : m.payload.slice(0, space);
      if (space >= 0 && m.payload.slice(space + 1) === this.#o.self) return;
      for (const l of this.#noticeListeners) l(notice);
    });
    try {
      await client.connect();
      // The server notices a cut connection (and frees its locks) within about half the lease.
      const idleS = Math.max(1, Math.floor(leaseMs / 6000));
      await client.query(
        `set tcp_keepalives_idle = ${idleS}; set tcp_keepalives_interval = ${idleS}; ` +
          `set tcp_keepalives_count = 2; set tcp_user_timeout = ${Math.floor(leaseMs / 2)}`,
      );
      const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock_shared($1::bigint) as ok', [
        DAEMON_LOCK,
      ]);
      if (r.rows[0]?.ok !== true) {
        const holder = await client.query<{ application_name: string }>(
          `select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.objid = $1 and l.granted and l.mode = 'ExclusiveLock'
              and l.database = (select oid from pg_database where datname = current_database())`,
          [DAEMON_LOCK],
        );
        throw this.#o.refused(holder.rows[0]?.application_name ?? 'another process');
      }
      await client.query(`listen ${NOTICE_CHANNEL}`);
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#leading = false;
    void client.end().catch(() => undefined);
    for (const l of this.#connectionListeners) l(false);
  }
}
