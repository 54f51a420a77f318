/**
 * Queues small store writes and does them in one transaction per batch: what is queued while a
 * batch is being written goes into the next one, so a burst of log lines or outcomes costs a few
 * commits (each an fsync) instead of one each. Batches are written one after another, in order.
 * State: the items queued, the chain of batches, whether a batch is scheduled.
 */
export interface WriteBatches<T> {
  push(item: T): void;
  /** Resolves when every item pushed so far is written (or its batch failed and was reported). */
  flush(): Promise<void>;
}

export function writeBatches<T>(
  write: (batch: readonly T[]) => Promise<void>,
  failed: (err: unknown, batch: readonly T[]) => void,
): WriteBatches<T> {
  let pending: T[] = [];
  let chain: Promise<void> = Promise.resolve();
  let scheduled = false;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    chain = chain.then(async () => {
      // Let the transaction that queued them commit first (queueMicrotask is not enough: tx awaits I/O).
      await new Promise<void>((resolve) => setImmediate(resolve));
      scheduled = false;
      const batch = pending;
      pending = [];
      if (batch.length === 0) return;
      try {
        await write(batch);
      } catch (err) {
        failed(err, batch);
      }
    });
  };

  return {
    push: (item) => {
      pending.push(item);
      schedule();
    },
    flush: async () => {
      await chain;
      if (pending.length > 0) {
        schedule();
        await chain;
      }
    },
  };
}
