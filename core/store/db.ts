/**
 * The state database: kysely over better-sqlite3, whose writing connection runs in a worker
 * thread (sqlite-worker-dialect.ts) so commits' fsyncs never stop the event loop; reads outside
 * transactions run on a read-only connection and see every committed transaction.
 * Invariants: WAL journal, synchronous=FULL (a committed transaction survives power loss),
 * foreign keys on. The driver serialises transactions and writes on that one connection, so a
 * transaction is the unit of every state change and never interleaves with another.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, type Transaction } from 'kysely';
import { ErrorCode, OneError } from '../errors.js';
import { migrateToLatest } from './migrate.js';
import type { Database } from './schema.js';
import { sqliteDialect } from './sqlite-dialect.js';
import { ReaderDriver, ReaderPool } from './sqlite-readers.js';
import { SqliteWorkerConnection, SqliteWorkerDriver } from './sqlite-worker-dialect.js';

export type Db = Kysely<Database>;
/** A transaction: store functions that write take one, so their caller decides what commits together. */
export type Tx = Transaction<Database>;
/** Where a read may run: the database itself or a transaction in progress. */
export type Queryable = Kysely<Database>;

export type DatastoreLockMode = 'shared' | 'exclusive';

/** A datastore lock held; release() is safe to call twice and after the connection broke. */
export interface DatastoreLock {
  release(): Promise<void>;
}

/**
 * What daemons sharing one store coordinate through besides transactions (issue 15, item 3).
 * SQLite has one daemon (the state directory's lock): it always leads, hears nothing, and its
 * datastore locks always succeed (the engine counts its own writers).
 */
export interface Coordination {
  /** True when other daemons may share the store (PostgreSQL). */
  readonly shared: boolean;
  /** Whether the coordination connection is up (its locks held); SQLite: always. */
  readonly connected: boolean;
  /**
   * Takes, or confirms it still holds, the leader lock: false when another daemon holds it.
   * Rejects when the database does not answer (the caller stops leading).
   */
  lead(): Promise<boolean>;
  /**
   * Notices committed by any daemon: `job:<id>` (a job or its VM sets changed), `claims`,
   * `schedules`, `copies`. Delivered after the commit, in commit order.
   */
  onNotice(listener: (notice: string) => void): void;
  /** The coordination connection broke (every lock it held is gone) or is back. */
  onConnection(listener: (up: boolean) => void): void;
  /**
   * A datastore lock: backups writing to it share it, a GC or chunk removal takes it alone.
   * Never waits: undefined when another daemon holds it the other way.
   */
  lockDatastore(id: number, mode: DatastoreLockMode): Promise<DatastoreLock | undefined>;
  close(): Promise<void>;
}

/** The one daemon on a SQLite store. */
export const soleDaemon: Coordination = Object.freeze({
  shared: false,
  connected: true,
  lead: async () => true,
  onNotice: () => undefined,
  onConnection: () => undefined,
  lockDatastore: async () => ({ release: async () => undefined }),
  close: async () => undefined,
});

export interface Store {
  readonly db: Db;
  /** Leader lock, change notices and datastore locks between daemons. */
  readonly coordination: Coordination;
  readonly backend: 'sqlite' | 'postgresql';
  /** Where the database is, for messages (a path, or a postgresql:// address without password). */
  readonly where: string;
  /** Runs fn in one transaction: all of its writes commit together or not at all. */
  tx<T>(fn: (trx: Tx) => Promise<T>): Promise<T>;
  /**
   * Runs fn in one read transaction: its reads see one committed snapshot, run on the main
   * thread and never wait for a write transaction or its fsync. A write in fn is a bug (it throws).
   */
  read<T>(fn: (trx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openSqliteStore(path: string): Promise<Store> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let connection: SqliteWorkerConnection | undefined;
  let readers: ReaderPool | undefined;
  try {
    connection = await SqliteWorkerConnection.open(path);
    if (path !== ':memory:') readers = new ReaderPool(path);
  } catch (err) {
    await connection?.close();
    throw new OneError(ErrorCode.INTERNAL, `state database ${path}: cannot open: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const db = new Kysely<Database>({
    dialect: sqliteDialect(() => new SqliteWorkerDriver(connection, readers)),
  });
  try {
    await migrateToLatest(db as unknown as Kysely<unknown>, path);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const readDb = readers
    ? new Kysely<Database>({ dialect: sqliteDialect(() => new ReaderDriver(readers)) })
    : db;
  let closed = false;
  return {
    db,
    backend: 'sqlite',
    where: path,
    coordination: soleDaemon,
    tx: (fn) => db.transaction().execute(fn),
    read: (fn) => readDb.transaction().execute(fn),
    close: async () => {
      if (closed) return;
      closed = true;
      if (readDb !== db) await readDb.destroy();
      await db.destroy();
    },
  };
}

/** Next object ID of a pool (OpenNebula's pool_control). First IDs: datastores 100, others 0. */
export async function nextId(trx: Tx, pool: string, first = 0): Promise<number> {
  const row = await trx.selectFrom('pool_ids').select('last_id').where('pool', '=', pool).executeTakeFirst();
  const id = row ? row.last_id + 1 : first;
  if (row) await trx.updateTable('pool_ids').set({ last_id: id }).where('pool', '=', pool).execute();
  else await trx.insertInto('pool_ids').values({ pool, last_id: id }).execute();
  return id;
}
