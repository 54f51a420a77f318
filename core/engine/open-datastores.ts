/**
 * The daemon's open datastore drivers: one per datastore, opened at its first use (a backup,
 * restore, verify, GC, metrics scrape or the start-up cleanup) and reused by every later one.
 *
 * Invariants: at most one driver is open or opening per datastore ID; concurrent get()s of a
 * datastore that is opening wait for that one open (a failed open is forgotten, so the next
 * get() tries again). close(id) forgets the driver before closing it, so a get() after it opens a
 * new one; closeAll() does the same for every datastore and is what the daemon's stop() calls.
 * A datastore's attributes do not change after allocate (there is no one.datastore.update), so
 * the driver opened first stays right for the datastore's life.
 * Every driver handed out passes its errors through its own isPermanent() (classified-driver.ts).
 * Crash story: nothing here is persistent; drivers put durably before resolving.
 */
import type {
  DatastoreAttributes,
  DatastoreDriver,
  DatastoreDriverFactory,
} from '../../drivers/datastore/types.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Logger } from '../log.js';
import { classifiedDriver } from './classified-driver.js';
import type { DatastoreProbes } from './datastore-probes.js';

/** A datastore as the store holds it: ID, DS_MAD and single-valued template attributes. */
export interface DatastoreToOpen extends DatastoreAttributes {
  readonly dsMad: string;
}

export class OpenDatastores {
  readonly #factories: ReadonlyMap<string, DatastoreDriverFactory>;
  readonly #open = new Map<number, Promise<DatastoreDriver>>();

  readonly #probes: DatastoreProbes | undefined;

  /** With `probes`, a datastore that does not answer is refused before its driver is used. */
  constructor(factories: ReadonlyMap<string, DatastoreDriverFactory>, probes?: DatastoreProbes) {
    this.#factories = factories;
    this.#probes = probes;
  }

  /** The datastore's driver, opened now if it is not open yet; refused when its storage does not answer. */
  async get(ds: DatastoreToOpen): Promise<DatastoreDriver> {
    await this.#probes?.require(ds);
    return this.#driver(ds);
  }

  #driver(ds: DatastoreToOpen): Promise<DatastoreDriver> {
    const open = this.#open.get(ds.id);
    if (open) return open;
    const opening = this.#openDriver(ds);
    this.#open.set(ds.id, opening);
    opening.catch(() => {
      if (this.#open.get(ds.id) === opening) this.#open.delete(ds.id);
    });
    return opening;
  }

  /**
   * Removes the temp files a crash left in these datastores, all at once (start-up): one that
   * does not answer is skipped after its probe's time limit, and the start goes on.
   */
  async cleanupAll(datastores: readonly DatastoreToOpen[], log: Logger): Promise<void> {
    const clean = async (ds: DatastoreToOpen) => {
      try {
        const removed = await (await this.get(ds)).cleanup();
        if (removed > 0) log.info('removed temp files left by a crash', { datastore: ds.id, files: removed });
      } catch (err) {
        log.warn('cannot clean datastore', {
          datastore: ds.id,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    };
    await Promise.all(datastores.map(clean));
  }

  /** How many drivers are open or opening (for tests and /health). */
  get size(): number {
    return this.#open.size;
  }

  /** Closes the datastore's driver if it is open (the datastore was deleted). */
  async close(datastoreId: number): Promise<void> {
    this.#probes?.forget(datastoreId);
    const open = this.#open.get(datastoreId);
    if (!open) return;
    this.#open.delete(datastoreId);
    const driver = await open.catch(() => undefined);
    await driver?.close();
  }

  /** Closes every open driver (daemon shutdown); the first failure is thrown after all are tried. */
  async closeAll(): Promise<void> {
    const ids = [...this.#open.keys()];
    const results = await Promise.allSettled(ids.map((id) => this.close(id)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async #openDriver(ds: DatastoreToOpen): Promise<DatastoreDriver> {
    const factory = this.#factories.get(ds.dsMad);
    if (!factory)
      throw new OneError(ErrorCode.INTERNAL, `datastore ${ds.id}: driver ${ds.dsMad} is not available`);
    const config = factory.parseConfig(ds);
    return classifiedDriver(await factory.open(config));
  }
}
