/**
 * execFile from a worker thread. Spawning a process forks the daemon, which costs the calling
 * thread ~15 ms at a few hundred MiB of memory (measured); done on the event loop for every
 * `qemu-img` of a backup or VM create, it stalled every API call behind it. The same module is the
 * worker (when started as one) and its client.
 * State (client): the worker, started on first use and holding the process alive only while
 * calls are in flight; the calls in flight by id. (worker): the children running by id.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface ExecRequest {
  readonly id: number;
  readonly file?: string;
  readonly args?: readonly string[];
  readonly maxBuffer?: number;
  /** Kill the child of this id (the caller's signal aborted). */
  readonly abort?: true;
}

interface ExecReply {
  readonly id: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: { readonly message: string; readonly code?: string | number; readonly name: string };
}

/** An execFile error as node's: message, `code` (errno name or exit code), `stderr`. */
export type ExecError = Error & { code?: string | number; stderr?: string };

const ROLE = 'onebackup-exec-thread';

function serve(port: NonNullable<typeof parentPort>): void {
  const children = new Map<number, ChildProcess>();
  port.on('message', (req: ExecRequest) => {
    if (req.abort) {
      children.get(req.id)?.kill();
      return;
    }
    const child = execFile(
      req.file ?? '',
      [...(req.args ?? [])],
      { maxBuffer: req.maxBuffer ?? 1 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        children.delete(req.id);
        const code = (err as { code?: unknown } | null)?.code;
        port.postMessage({
          id: req.id,
          stdout,
          stderr,
          ...(err
            ? {
                error: {
                  message: err.message,
                  name: err.name,
                  ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
                },
              }
            : {}),
        } satisfies ExecReply);
      },
    );
    children.set(req.id, child);
  });
}

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === ROLE) serve(parentPort);

let worker: Worker | undefined;
const pending = new Map<number, { resolve: (r: ExecReply) => void; reject: (e: Error) => void }>();
let nextId = 1;

function started(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
  w.unref();
  w.on('message', (reply: ExecReply) => {
    const p = pending.get(reply.id);
    pending.delete(reply.id);
    if (pending.size === 0) w.unref();
    p?.resolve(reply);
  });
  const fail = (err: Error) => {
    if (worker === w) worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on('error', (err) => fail(err));
  w.on('exit', (code) => fail(new Error(`the process-spawning thread stopped (exit code ${code})`)));
  worker = w;
  return w;
}

/** execFile(file, args) run from the worker thread; resolves stdout and stderr, rejects as execFile. */
export async function execFileOffThread(
  file: string,
  args: readonly string[],
  options: { readonly maxBuffer: number; readonly signal?: AbortSignal },
): Promise<{ stdout: string; stderr: string }> {
  options.signal?.throwIfAborted();
  const w = started();
  const id = nextId++;
  if (pending.size === 0) w.ref();
  const reply = new Promise<ExecReply>((resolve, reject) => pending.set(id, { resolve, reject }));
  w.postMessage({ id, file, args, maxBuffer: options.maxBuffer } satisfies ExecRequest);
  const onAbort = () => w.postMessage({ id, abort: true } satisfies ExecRequest);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await reply;
    options.signal?.throwIfAborted();
    if (r.error) {
      const err: ExecError = new Error(r.error.message);
      err.name = r.error.name;
      if (r.error.code !== undefined) err.code = r.error.code;
      err.stderr = r.stderr;
      throw err;
    }
    return { stdout: r.stdout, stderr: r.stderr };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
