/**
 * The state database's one connection, in a worker thread (started by sqlite-worker-dialect.ts).
 * better-sqlite3 is synchronous: run on the main thread, every commit's fsync (synchronous=FULL)
 * and every long query stopped the event loop. Here they stop only this thread.
 * State: one better-sqlite3 handle opened from `workerData.path` with the store's pragmas, and a
 * cache of prepared statements by SQL text. Requests arrive one at a time (the driver serialises
 * them) and each is answered with its id on `workerData.replies` (rows, or changes and last insert
 * rowid, or the error's name, message and SQLite code), then its id is stored in `workerData.flag`.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

export interface WorkerRequest {
  readonly id: number;
  /** Absent: close the database and stop. */
  readonly sql?: string;
  readonly params?: readonly unknown[];
  /** Run `begin` first: a transaction's first write carries its begin (one round trip, not two). */
  readonly begin?: boolean;
}

export interface WorkerError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

export type WorkerReply =
  | { readonly id: number; readonly rows: unknown[] }
  | { readonly id: number; readonly changes: number; readonly lastInsertRowid: number | bigint }
  | { readonly id: number; readonly done: true }
  | { readonly id: number; readonly error: WorkerError };

/** Prepared statements kept; past this the cache starts again (the SQL of kysely queries repeats). */
const MAX_STATEMENTS = 500;

function asError(err: unknown): WorkerError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
}

/** Blobs arrive as Uint8Array (structured clone); better-sqlite3 binds Buffers. */
function bindable(params: readonly unknown[]): unknown[] {
  return params.map((p) =>
    p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p,
  );
}

interface Setup {
  readonly path: string;
  /** Where replies go (the client may take them synchronously with receiveMessageOnPort). */
  readonly replies: MessagePort;
  /** Set to the id of each reply after it is posted (and notified), for a client in Atomics.wait. */
  readonly flag: Int32Array;
}

function serve(requests: NonNullable<typeof parentPort>, { path, replies, flag }: Setup): void {
  const port = {
    postMessage(reply: WorkerReply) {
      replies.postMessage(reply);
      Atomics.store(flag, 0, reply.id);
      Atomics.notify(flag, 0);
    },
  };
  let db: SQLite.Database;
  try {
    db = new SQLite(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    port.postMessage({ id: 0, error: asError(err) } satisfies WorkerReply);
    return;
  }
  port.postMessage({ id: 0, done: true } satisfies WorkerReply);
  const statements = new Map<string, SQLite.Statement>();
  const prepare = (sql: string): SQLite.Statement => {
    let stmt = statements.get(sql);
    if (!stmt) {
      if (statements.size >= MAX_STATEMENTS) statements.clear();
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
  requests.on('message', (req: WorkerRequest) => {
    if (req.sql === undefined) {
      statements.clear();
      db.close();
      // The client terminates the thread once it has this reply: exiting here could overtake it.
      port.postMessage({ id: req.id, done: true } satisfies WorkerReply);
      return;
    }
    let reply: WorkerReply;
    try {
      if (req.begin) prepare('begin').run();
      const stmt = prepare(req.sql);
      const params = bindable(req.params ?? []);
      if (stmt.reader) reply = { id: req.id, rows: stmt.all(params) };
      else {
        const { changes, lastInsertRowid } = stmt.run(params);
        reply = { id: req.id, changes, lastInsertRowid };
      }
    } catch (err) {
      reply = { id: req.id, error: asError(err) };
    }
    port.postMessage(reply);
  });
}

if (parentPort) serve(parentPort, workerData as Setup);
