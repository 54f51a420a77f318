/**
 * Read-only SQLite connections on the main thread, for what only reads: single reads outside a
 * transaction (sqlite-worker-dialect.ts routes them here) and read transactions (`Store.read`:
 * several queries on one snapshot). In WAL mode a reader sees every committed transaction and
 * never waits on the writer in the worker thread or on its fsync; a read costs microseconds, so
 * running it synchronously beats a round trip to the worker.
 * State: a small pool of connections (opened on demand, at most MAX_READERS), which of them are
 * free, the read transactions waiting for one; each connection's prepared statements.
 */
import SQLite from 'better-sqlite3';
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult } from 'kysely';

/** Read transactions open at once; more wait (they hold a connection only while they run). */
const MAX_READERS = 4;
const MAX_STATEMENTS = 500;

class ReadOnlyConnection {
  readonly #db: SQLite.Database;
  readonly #statements = new Map<string, SQLite.Statement>();

  constructor(path: string) {
    this.#db = new SQLite(path, { readonly: true, fileMustExist: true });
    this.#db.pragma('busy_timeout = 5000');
  }

  /** The prepared statement; throws SQLite's error (a missing table...) as better-sqlite3 does. */
  prepare(sql: string): SQLite.Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      if (this.#statements.size >= MAX_STATEMENTS) this.#statements.clear();
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
}

/** `reader` is also true for PRAGMAs and RETURNING statements that write: only plain reads here. */
const isRead = (stmt: SQLite.Statement): boolean => stmt.reader && stmt.readonly;

export class ReaderPool {
  readonly #path: string;
  readonly #all: ReadOnlyConnection[] = [];
  readonly #free: ReadOnlyConnection[] = [];
  readonly #waiting: ((c: ReadOnlyConnection) => void)[] = [];
  #closed = false;

  constructor(path: string) {
    this.#path = path;
    this.#free.push(this.#open());
  }

  #open(): ReadOnlyConnection {
    const c = new ReadOnlyConnection(this.#path);
    this.#all.push(c);
    return c;
  }

  #take(): ReadOnlyConnection | undefined {
    if (this.#closed) return undefined;
    return this.#free.pop() ?? (this.#all.length < MAX_READERS ? this.#open() : undefined);
  }

  /** A free connection, waiting for one if all are in read transactions. */
  async acquire(): Promise<ReadOnlyConnection> {
    const c = this.#take();
    if (c) return c;
    if (this.#closed) throw new Error('state database is closed');
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(c: ReadOnlyConnection): void {
    const next = this.#waiting.shift();
    if (next) next(c);
    else this.#free.push(c);
  }

  /**
   * The rows of a single read, at once; undefined when the query writes, does not prepare (the
   * worker runs it and reports the error with its code) or every connection is busy.
   */
  readNow(query: CompiledQuery): unknown[] | undefined {
    const c = this.#take();
    if (!c) return undefined;
    try {
      const stmt = c.prepare(query.sql);
      return isRead(stmt) ? stmt.all(query.parameters as unknown[]) : undefined;
    } catch {
      return undefined;
    } finally {
      this.release(c);
    }
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#all) c.close();
    this.#all.length = 0;
    this.#free.length = 0;
  }
}

/** One read transaction's connection: reads run on its snapshot; a write is a bug. */
class ReadTxConnection implements DatabaseConnection {
  constructor(readonly c: ReadOnlyConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.c.prepare(query.sql);
    if (!isRead(stmt)) throw new Error(`a read transaction tried to write (bug): ${query.sql}`);
    return { rows: stmt.all(query.parameters as unknown[]) as R[] };
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(query);
    for (const row of rows) yield { rows: [row] };
  }
}

export class ReaderDriver implements Driver {
  constructor(private readonly pool: ReaderPool) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new ReadTxConnection(await this.pool.acquire());
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as ReadTxConnection).c.exec('begin');
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as ReadTxConnection).c.exec('commit');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as ReadTxConnection).c.exec('rollback');
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.pool.release((connection as ReadTxConnection).c);
  }

  /** The pool is closed by the writing dialect's driver, which owns it. */
  async destroy(): Promise<void> {}
}
