/**
 * Datastore drivers by DS_MAD name, registered explicitly. `local`: a directory on this host;
 * `rsync`: the same format in a directory on a backup server reached over SSH.
 */
import { localDatastore } from './local.js';
import { rsyncDatastore } from './rsync.js';
import type { DatastoreDriverFactory } from './types.js';

function createRegistry(
  factories: readonly DatastoreDriverFactory[],
): ReadonlyMap<string, DatastoreDriverFactory> {
  const map = new Map<string, DatastoreDriverFactory>();
  for (const f of factories) {
    if (map.has(f.name)) throw new Error(`datastore driver ${f.name} registered twice`);
    map.set(f.name, f);
  }
  return map;
}

export const DATASTORE_DRIVERS = createRegistry([localDatastore, rsyncDatastore as DatastoreDriverFactory]);
export const DATASTORE_DRIVER_NAMES: readonly string[] = Object.freeze([...DATASTORE_DRIVERS.keys()]);
