/**
 * The state database on PostgreSQL (DB = [ BACKEND = "postgresql", ... ]): kysely's PostgreSQL
 * dialect over a `pg` pool of CONNECTIONS connections, the same migrations and store functions as
 * SQLite (pg-portable.ts bridges what differs).
 * Invariants, as on SQLite: a write transaction never interleaves with another. Each takes this
 * process's write mutex (so waiting writers hold no pool connection) and then a transaction-scoped
 * advisory lock, so write transactions of every process on the database run one at a time, as
 * SQLite's single writer does; read-modify-write transitions (next IDs, slot counts) stay correct
 * at READ COMMITTED. `Store.read` is a REPEATABLE READ, READ ONLY transaction: one snapshot.
 * Reads outside a transaction see every committed transaction.
 * State: the pool; the coordination connection (pg-coordination.ts: leader and datastore locks,
 * notices, the daemon lock held shared by each daemon); with role "exclusive" (db-copy), one more
 * connection holding the daemon lock alone, so no daemon runs meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { ErrorCode, OneError } from '../errors.js';
import type { Secret } from '../secret.js';
import type { Db, Store } from './db.js';
import { migrateToLatest } from './migrate.js';
import { ConnectionMutex } from './mutex.js';
import { DAEMON_LOCK, PgCoordination } from './pg-coordination.js';
import { installNotices } from './pg-notices.js';
import { emptyInListsPlugin, wideIntegersPlugin } from './pg-portable.js';
import type { Database } from './schema.js';

export interface PostgresOptions {
  /** Host name or address; a path (starting with /) is the directory of a unix socket. */
  readonly server: string;
  readonly port: number;
  readonly user: string;
  readonly password: Secret | undefined;
  readonly database: string;
  /** Pool size: queries at once. */
  readonly connections: number;
  /**
   * Seconds a daemon may miss its heartbeats before the others requeue its backups (DB/LEASE);
   * also bounds how long the server keeps a cut connection's locks and transaction.
   */
  readonly leaseSeconds: number;
}

/** Advisory lock key (in the database's own key space): one writer at a time (pg-coordination.ts has the others). */
const WRITE_LOCK = 0x6f6e7772; // 'onwr'
const INT8_OID = 20;

/** Where the store is, for messages: never the password. */
export function postgresWhere(o: PostgresOptions): string {
  return `postgresql://${o.user}@${o.server.startsWith('/') ? `[${o.server}]` : o.server}:${o.port}/${o.database}`;
}

/** bigint (counts, and the columns migrations declare `integer`) as a number, as SQLite gives it. */
function int8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n))
    throw new Error(`state database: integer ${text} is too large for a number (bug)`);
  return n;
}

const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? int8
      : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

function clientConfig(o: PostgresOptions, appName: string): pg.ClientConfig {
  const leaseMs = o.leaseSeconds * 1000;
  return {
    // A transaction left open by a daemon whose network was cut must not hold the write lock for
    // every other daemon: the server ends it within half the lease.
    idle_in_transaction_session_timeout: Math.floor(leaseMs / 2),
    options: `-c tcp_user_timeout=${Math.floor(leaseMs / 2)}`,
    // A query across a cut network fails within the lease rather than when TCP gives up.
    query_timeout: leaseMs,
    keepAlive: true,
    host: o.server,
    port: o.port,
    user: o.user,
    database: o.database,
    ...(o.password ? { password: o.password.reveal() } : {}),
    application_name: appName,
    connectionTimeoutMillis: 10_000,
    types: TYPES,
  };
}

function cannot(o: PostgresOptions, what: string, err: unknown): OneError {
  const message = err instanceof Error ? err.message : String(err);
  return new OneError(
    ErrorCode.INTERNAL,
    `state database ${postgresWhere(o)}: ${what}: ${message}; check DB = [ SERVER, PORT, USER, PASSWD, DB_NAME ] ` +
      'in onebackupd.conf and that PostgreSQL accepts this user from this host (pg_hba.conf)',
    { cause: err },
  );
}

/** Takes the daemon lock alone on its own connection (no daemon runs), or says which onebackupd holds it. */
async function lockDaemons(o: PostgresOptions, appName: string): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(o, appName));
  client.on('error', () => undefined);
  try {
    await client.connect();
    const got = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [
      DAEMON_LOCK,
    ]);
    if (got.rows[0]?.ok) return client;
    const holder = await client.query<{ application_name: string; client_addr: string | null }>(
      `select a.application_name, host(a.client_addr) as client_addr from pg_locks l
         join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.objid = $1 and l.granted
          and l.database = (select oid from pg_database where datname = current_database())`,
      [DAEMON_LOCK],
    );
    const h = holder.rows[0];
    throw new OneError(
      ErrorCode.ACTION,
      `state database ${postgresWhere(o)} is in use by ${h ? `${h.application_name} (from ${h.client_addr ?? 'a local socket'})` : 'another onebackupd'}; ` +
        'stop every onebackupd on it first',
    );
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err instanceof OneError ? err : cannot(o, 'cannot connect', err);
  }
}

/**
 * `role`: "daemon" joins the daemons on the database (the daemon lock shared, on the
 * coordination connection, opened now); "exclusive" is a tool that needs no daemon running
 * (`onebackupd db-copy`: the daemon lock alone); without it, a plain client (tests, tools).
 */
export async function openPostgresStore(
  o: PostgresOptions,
  options: { role?: 'daemon' | 'exclusive' } = {},
): Promise<Store> {
  const appName = `onebackupd ${process.pid} on ${hostname()} ${randomBytes(3).toString('hex')}`.slice(0, 63);
  const pool = new pg.Pool({ ...clientConfig(o, appName), max: o.connections });
  // An idle connection that breaks (server restart) is dropped; the next query reconnects or fails.
  pool.on('error', () => undefined);
  // One that breaks while checked out (inside a transaction, between its queries) must not take
  // the process down with an unhandled 'error': its next query fails, and the pool drops it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw cannot(o, 'cannot connect', err);
  }
  let daemonLock: pg.Client | undefined;
  const coordination = new PgCoordination({
    client: clientConfig(o, appName),
    leaseMs: o.leaseSeconds * 1000,
    self: appName,
    refused: (holder) =>
      new OneError(
        ErrorCode.ACTION,
        `state database ${postgresWhere(o)} is held by ${holder} (onebackupd db-copy); start the daemon when it is done`,
      ),
  });
  const db: Db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [emptyInListsPlugin()],
  });
  try {
    if (options.role === 'exclusive') daemonLock = await lockDaemons(o, appName);
    await migrateToLatest(
      db.withPlugin(wideIntegersPlugin()) as unknown as Kysely<unknown>,
      postgresWhere(o),
    );
    await installNotices(db, WRITE_LOCK);
    if (options.role === 'daemon')
      await coordination.connect().catch((err: unknown) => {
        throw err instanceof OneError ? err : cannot(o, 'cannot connect', err);
      });
  } catch (err) {
    await daemonLock?.end().catch(() => undefined);
    await coordination.close();
    await db.destroy();
    throw err;
  }
  const writes = new ConnectionMutex();
  let closed = false;
  return {
    db,
    backend: 'postgresql',
    where: postgresWhere(o),
    coordination,
    tx: async (fn) => {
      await writes.lock();
      try {
        return await db.transaction().execute(async (trx) => {
          await sql`select pg_advisory_xact_lock(${sql.lit(WRITE_LOCK)})`.execute(trx);
          return fn(trx);
        });
      } finally {
        writes.unlock();
      }
    },
    read: (fn) =>
      db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(fn),
    close: async () => {
      if (closed) return;
      closed = true;
      await coordination.close();
      await db.destroy();
      await daemonLock?.end().catch(() => undefined);
    },
  };
}
