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

export interface Store {
  readonly db: Db;
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
