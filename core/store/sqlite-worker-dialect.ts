/**
 * A kysely dialect whose writing SQLite connection lives in a worker thread (sqlite-worker.ts), so
 * a commit's fsync (synchronous=FULL) never stops the event loop. Transactions and writes are as
 * with kysely's SqliteDialect: one connection, a mutex so one transaction or write runs at a time,
 * `begin` / `commit` / `rollback` and savepoints as SQL. Reads outside a transaction do not queue
 * behind them: they run at once on read-only connections on the main thread (sqlite-readers.ts;
 * WAL readers see every committed transaction and never wait on a writer). A transaction's reads
 * before its first write run there too, and its `begin` goes to the worker with that first write:
 * while it holds the mutex nothing else in this process can commit, and the state directory's
 * lock keeps other processes out, so those reads see exactly what the worker's snapshot would,
 * without a round trip to the worker each; a transaction that only reads (a refusal after its
 * checks) never reaches the worker. Errors come back as
 * Errors with the name, message and SQLite code (`SQLITE_CONSTRAINT_UNIQUE`...) that
 * better-sqlite3 gave them.
 * State: the worker, its requests in flight (its reply port holds the process alive only while
 * there are some), whether it has stopped; the write mutex.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { ConnectionMutex } from './mutex.js';
import type { ReaderPool } from './sqlite-readers.js';
import type { WorkerError, WorkerReply, WorkerRequest } from './sqlite-worker.js';

/** A savepoint name as an SQL identifier. */
const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url);

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(err: Error): void;
}

function toError(e: WorkerError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}

/** Blobs come back as Uint8Array; better-sqlite3 gave Buffers. */
function withBuffers(rows: unknown[]): unknown[] {
  for (const row of rows) {
    if (row === null || typeof row !== 'object') continue;
    const r = row as Record<string, unknown>;
    for (const key in r) {
      const v = r[key];
      if (v instanceof Uint8Array && !Buffer.isBuffer(v))
        r[key] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
  }
  return rows;
}

/** How long a statement inside a transaction may keep the event loop waiting for the worker. */
const SYNC_WAIT_MS = 30_000;

/**
 * The writing connection: requests to the worker, answered in order on a port of our own. A
 * statement inside a transaction is answered synchronously (Atomics.wait on a flag the worker
 * raises, then receiveMessageOnPort): it costs microseconds, and a transaction that yielded to the
 * event loop at each statement would hold the write mutex for as many turns of a busy loop. Only
 * what syncs to disk (a COMMIT, or a write outside a transaction) is awaited asynchronously.
 */
export class SqliteWorkerConnection {
  readonly #worker: Worker;
  readonly #replies: MessagePort;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  readonly #pending = new Map<number, Pending>();
  /** Request ids; they are also the flag's values, so they stay within an Int32. */
  #nextId = 1;
  #stopped: Error | undefined;

  private constructor(path: string) {
    const { port1, port2 } = new MessageChannel();
    this.#replies = port1;
    this.#worker = new Worker(WORKER_URL, {
      workerData: { path, replies: port2, flag: this.#flag },
      transferList: [port2],
    });
    this.#worker.unref();
    port1.unref();
    port1.on('message', (reply: WorkerReply) => this.#settle(reply));
    const stop = (err: Error) => {
      this.#stopped ??= err;
      for (const p of this.#pending.values()) p.reject(this.#stopped);
      this.#pending.clear();
      port1.close();
    };
    this.#worker.on('error', (err) =>
      stop(new Error(`state database worker failed: ${err.message}`, { cause: err })),
    );
    this.#worker.on('exit', (code) => stop(new Error(`state database worker stopped (exit code ${code})`)));
  }

  /** Starts the worker and opens `path` in it; rejects with the open's error. */
  static async open(path: string): Promise<SqliteWorkerConnection> {
    const conn = new SqliteWorkerConnection(path);
    try {
      await conn.#await(0);
    } catch (err) {
      await conn.#worker.terminate();
      throw err;
    }
    return conn;
  }

  #id(): number {
    const id = this.#nextId;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    return id;
  }

  #settle(reply: WorkerReply): void {
    const p = this.#pending.get(reply.id);
    if (!p) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#replies.unref();
    if ('error' in reply) p.reject(toError(reply.error));
    else p.resolve(reply);
  }

  #await(id: number): Promise<WorkerReply> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    if (this.#pending.size === 0) this.#replies.ref();
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  #send(req: Omit<WorkerRequest, 'id'>): Promise<WorkerReply> {
    const id = this.#id();
    const reply = this.#await(id);
    if (!this.#stopped) this.#worker.postMessage({ ...req, id } satisfies WorkerRequest);
    return reply;
  }

  /** The reply to a request sent with nothing else in flight, waited for on this thread. */
  #sendSync(req: Omit<WorkerRequest, 'id'>): WorkerReply {
    if (this.#stopped) throw this.#stopped;
    if (this.#pending.size > 0)
      throw new Error('state database: a synchronous request with others in flight (bug)');
    const id = this.#id();
    this.#worker.postMessage({ ...req, id } satisfies WorkerRequest);
    // The worker stores the id of each reply in the flag after posting it: wait for ours.
    const deadline = Date.now() + SYNC_WAIT_MS;
    for (let seen = Atomics.load(this.#flag, 0); seen !== id; seen = Atomics.load(this.#flag, 0)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`state database worker did not answer in ${SYNC_WAIT_MS / 1000} s`);
      Atomics.wait(this.#flag, 0, seen, left);
    }
    const got = receiveMessageOnPort(this.#replies)?.message as WorkerReply | undefined;
    if (got?.id !== id) throw new Error('state database worker: reply out of order (bug)');
    if ('error' in got) throw toError(got.error);
    return got;
  }

  /**
   * Runs one statement. `inTransaction`: the caller holds the write mutex inside BEGIN, so the
   * statement is answered synchronously unless it is the COMMIT. `begin`: run `begin` first (a
   * failed begin fails the statement; once begun, the caller ends the transaction as usual).
   */
  async executeQuery<R>(
    compiledQuery: CompiledQuery,
    inTransaction = false,
    begin = false,
  ): Promise<QueryResult<R>> {
    const req = { sql: compiledQuery.sql, params: compiledQuery.parameters, ...(begin ? { begin } : {}) };
    const sync = inTransaction && !/^\s*commit\b/i.test(compiledQuery.sql);
    const reply = sync ? this.#sendSync(req) : await this.#send(req);
    if ('rows' in reply) return { rows: withBuffers(reply.rows) as R[] };
    if ('changes' in reply) {
      return { numAffectedRows: BigInt(reply.changes), insertId: BigInt(reply.lastInsertRowid), rows: [] };
    }
    throw new Error('state database worker: unexpected reply (bug)');
  }

  /** Closes the database and stops the worker; a second call does nothing. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#send({});
    } finally {
      this.#stopped = new Error('state database is closed');
      await this.#worker.terminate();
    }
  }
}

const SELECT = /^\s*select\b/i;

/**
 * What kysely gets from acquireConnection: a query inside a transaction, or one that writes, goes
 * to the worker under the mutex; a read outside a transaction runs at once on the read-only
 * connection (WAL: it sees every committed transaction and never waits on a writer's fsync).
 */
class RoutedConnection implements DatabaseConnection {
  /** Between beginTransaction and its commit or rollback: the write mutex is held. */
  inTransaction = false;
  /** The worker has this transaction's `begin` (sent with its first write, see the top). */
  begun = false;

  constructor(
    private readonly worker: SqliteWorkerConnection,
    private readonly readers: ReaderPool | undefined,
    private readonly mutex: ConnectionMutex,
  ) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction) {
      if (!this.begun) {
        // Only SELECTs: a PRAGMA must answer for the writing connection, not for a reader.
        const rows = SELECT.test(compiledQuery.sql) ? this.readers?.readNow(compiledQuery) : undefined;
        if (rows !== undefined) return { rows: rows as R[] };
        this.begun = true;
        return this.worker.executeQuery(compiledQuery, true, true);
      }
      return this.worker.executeQuery(compiledQuery, true);
    }
    const rows = this.readers?.readNow(compiledQuery);
    if (rows !== undefined) return { rows: rows as R[] };
    await this.mutex.lock();
    try {
      return await this.worker.executeQuery(compiledQuery);
    } finally {
      this.mutex.unlock();
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(compiledQuery);
    for (const row of rows) yield { rows: [row] };
  }
}

export class SqliteWorkerDriver implements Driver {
  readonly #mutex = new ConnectionMutex();

  constructor(
    private readonly worker: SqliteWorkerConnection,
    private readonly readers: ReaderPool | undefined,
  ) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new RoutedConnection(this.worker, this.readers, this.#mutex);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const routed = connection as RoutedConnection;
    await this.#mutex.lock();
    routed.begun = this.readers === undefined;
    if (routed.begun) {
      try {
        await this.worker.executeQuery(CompiledQuery.raw('begin'), true);
      } catch (err) {
        // Whatever failed, leave no transaction open on the connection ("no transaction" is fine).
        await this.worker.executeQuery(CompiledQuery.raw('rollback')).catch(() => undefined);
        this.#mutex.unlock();
        throw err;
      }
    }
    routed.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#end(connection as RoutedConnection, 'commit');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#end(connection as RoutedConnection, 'rollback');
  }

  /**
   * Commit or rollback. A failed commit (SQLITE_BUSY) leaves the transaction open: kysely then
   * rolls back, so the mutex is kept until the transaction is over either way.
   */
  async #end(connection: RoutedConnection, what: 'commit' | 'rollback'): Promise<void> {
    try {
      // A transaction that never wrote has nothing in the worker to commit or roll back.
      if (connection.begun) await this.worker.executeQuery(CompiledQuery.raw(what), true);
    } catch (err) {
      if (what === 'commit') throw err;
    }
    connection.begun = false;
    connection.inTransaction = false;
    this.#mutex.unlock();
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${ident(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${ident(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${ident(name)}`));
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    this.readers?.close();
    await this.worker.close();
  }
}
