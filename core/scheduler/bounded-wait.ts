/**
 * Waiting with a bound: an aborted backup, restore or verify stuck in a read of a storage that
 * does not answer (a hung NFS mount) never settles, and must not keep the daemon from stopping
 * (what was still running is requeued at the next start, job-vms.ts); a query across a cut
 * network must not hold the heartbeat or /health.
 */
import type { Clock } from '../clock.js';

/** Resolves when `work` settles or after `ms`, whichever comes first; true if it settled. */
export async function settledWithin(clock: Clock, work: Promise<unknown>, ms: number): Promise<boolean> {
  let cancel: (() => void) | undefined;
  const timeout = new Promise<false>((resolve) => {
    cancel = clock.setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    cancel?.();
  }
}

/** `work`'s answer, or a rejection naming `what` after `ms` (the work may still settle later, unheard). */
export function answerWithin<T>(clock: Clock, work: Promise<T>, ms: number, what: string): Promise<T> {
  let cancel: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    cancel = clock.setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms)} ms`)), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => cancel?.());
}
