/**
 * The per-VM backup log (issue 5: `onebackupjob runs <job> --log <vm>`). A Logger decorator: every
 * event is passed on unchanged, and an event whose fields name a VM (`vm`) is also formatted by
 * the same logger code (so secrets are redacted the same way) and stored as a line of that VM's
 * task in the job's latest run that has one. Writes are queued and done in one transaction per
 * batch, after the transaction that logged them, so logging never waits on the store.
 */
import { createLogger, type LogFields, type LogFormat, type Logger } from '../log.js';
import type { Store } from '../store/db.js';
import { appendTaskLogLines, type TaskLogLine, taskLogLines } from '../store/task-logs.js';
import { writeBatches } from './write-batches.js';

/** Runs of a job whose task logs are kept; older ones are deleted as new lines come. */
export const KEEP_RUNS = 100;

export interface TaskLog {
  /** The logger to give the daemon's parts. */
  readonly log: Logger;
  /** Resolves when every line logged so far is stored (daemon stop, tests). */
  flush(): Promise<void>;
}

export function taskLogger(
  inner: Logger,
  options: { readonly store: Store; readonly now: () => number; readonly format: LogFormat },
): TaskLog {
  let captured = '';
  const formatter = createLogger({
    level: 'debug',
    format: options.format,
    now: options.now,
    write: (line) => {
      captured = line.trimEnd();
    },
  });

  const batches = writeBatches<TaskLogLine>(
    (batch) => options.store.tx((trx) => appendTaskLogLines(trx, batch, KEEP_RUNS)),
    (err, batch) =>
      inner.warn('cannot store backup log lines', {
        lines: batch.length,
        error: err instanceof Error ? err.message : String(err),
      }),
  );

  const emit = (level: keyof Logger, msg: string, fields?: LogFields) => {
    inner[level](msg, fields);
    const vm = fields?.['vm'];
    if (typeof vm !== 'number') return;
    const job = fields?.['job'];
    formatter[level](msg, fields);
    batches.push({
      vmId: vm,
      jobId: typeof job === 'number' ? job : undefined,
      timeMs: options.now(),
      line: captured,
    });
  };

  return {
    log: {
      error: (m, f) => emit('error', m, f),
      warn: (m, f) => emit('warn', m, f),
      info: (m, f) => emit('info', m, f),
      debug: (m, f) => emit('debug', m, f),
    },
    flush: () => batches.flush(),
  };
}

/** The stored log lines of one VM task of a run, oldest first. */
export async function readTaskLog(
  store: Store,
  jobId: number,
  runId: number,
  vmId: number,
): Promise<readonly { timeMs: number; line: string }[]> {
  return taskLogLines(store.db, jobId, runId, vmId);
}
