/**
 * A datastore driver whose every call must answer within a time limit (DATASTORE_TIMEOUT): a
 * storage that hangs in the middle of a backup (a dead NFS server, a stuck disk) fails that backup
 * with an error naming the datastore, instead of holding its slot, its memory and the daemon's
 * shutdown forever. The call that hangs is abandoned, not cancelled (the thread stuck in it stays
 * stuck until the storage answers); the datastore's probes then report it down. `flush` (one
 * syncfs of everything the backup wrote, at SYNC_LEVEL "filesystem") may legitimately take long
 * on a slow disk: it gets FLUSH_FACTOR times the limit.
 */

import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { Clock } from '../clock.js';

const FLUSH_FACTOR = 30;

export class DatastoreTimeoutError extends Error {
  override name = 'DatastoreTimeoutError';
}

export function boundedDatastore(
  driver: DatastoreDriver,
  datastoreId: number,
  timeoutMs: number,
  clock: Clock,
): DatastoreDriver {
  if (!(timeoutMs > 0)) return driver;
  return new Proxy(driver, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = Reflect.apply(value, target, args);
        if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') return result;
        let cancel: (() => void) | undefined;
        const limitMs = prop === 'flush' ? timeoutMs * FLUSH_FACTOR : timeoutMs;
        const timeout = new Promise<never>((_, reject) => {
          cancel = clock.setTimeout(
            () =>
              reject(
                new DatastoreTimeoutError(
                  `datastore ${datastoreId} did not answer within ${limitMs / 1000} s (${String(prop)}): its storage hangs (a dead NFS server, a stuck disk?); the backup stops and nothing is recorded; onedatastore list and /health show it until it answers`,
                ),
              ),
            limitMs,
          );
        });
        return Promise.race([result as Promise<unknown>, timeout]).finally(() => cancel?.());
      };
    },
  });
}
