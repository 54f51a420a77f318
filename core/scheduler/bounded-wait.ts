/**
 * Waiting at shutdown with a bound: an aborted backup, restore or verify stuck in a read of a
 * storage that does not answer (a hung NFS mount) never settles, and must not keep the daemon
 * from stopping. What was still running is requeued at the next start (job-vms.ts).
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
