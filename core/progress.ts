/**
 * How far a restore or verify has come, as the engine counts it while it runs (a leaf module:
 * the engine updates the counter, the scheduler keeps it under the caller's tag, the API shows it
 * to the CLI that started the operation). Restores count the allocated bytes of the disks they
 * write; verify counts chunks (each checked once) and the stored bytes it read.
 */
export interface ProgressCounter {
  bytesDone: number;
  bytesTotal: number;
  chunksDone: number;
  chunksTotal: number;
}

export function newProgressCounter(): ProgressCounter {
  return { bytesDone: 0, bytesTotal: 0, chunksDone: 0, chunksTotal: 0 };
}

/** The tag a CLI gives an operation to follow it, and whose it is (only they see it). */
export interface ProgressWatch {
  readonly tag: string;
  readonly uid: number;
}

/** An operation as `one.progress.info` shows it. */
export interface OperationProgress {
  readonly kind: 'restore' | 'verify';
  /** Why it waits for a slot; undefined once it runs. */
  readonly queued: string | undefined;
  /** Epoch seconds it started running (0 while queued). */
  readonly startedAt: number;
  readonly counter: Readonly<ProgressCounter>;
}
