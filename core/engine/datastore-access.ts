/**
 * The engine's side of core/datastore-access.ts: storage of datastores that may not be in the
 * store yet (create, import), opened for one call and closed after it, and keys wrapped for
 * export. Nothing is held between calls.
 */
import type { KeyStore } from '../../drivers/datastore/keys.js';
import type { DatastoreDriver, DatastoreDriverFactory } from '../../drivers/datastore/types.js';
import type { DatastoreAccess, FoundManifest, StorageSettings } from '../datastore-access.js';
import { ErrorCode, OneError } from '../errors.js';
import { encodeIdentity, readIdentity, storageName } from './datastore-identity.js';
import { decodeManifest, incrementStats, isEncryptedManifest } from './manifest.js';

/** How long a datastore document waits for its storage's capacity before showing zeros. */
const CAPACITY_TIMEOUT_MS = 5000;

/**
 * `opened`, when given, hands out the daemon's open driver of a datastore that exists (so a
 * remote datastore's capacity is asked over its open connection, not a new one per document).
 */
export function datastoreAccess(
  factories: ReadonlyMap<string, DatastoreDriverFactory>,
  keys: KeyStore,
  opened?: (ds: StorageSettings) => Promise<DatastoreDriver>,
): DatastoreAccess {
  const factory = (ds: StorageSettings): DatastoreDriverFactory => {
    const f = factories.get(ds.dsMad);
    if (!f)
      throw new OneError(
        ErrorCode.ACTION,
        `DS_MAD "${ds.dsMad}" is not a datastore driver of this onebackupd`,
      );
    return f;
  };
  const withDriver = async <T>(ds: StorageSettings, use: (d: DatastoreDriver) => Promise<T>): Promise<T> => {
    const f = factory(ds);
    const driver = await f.open(f.parseConfig(ds));
    try {
      return await use(driver);
    } finally {
      await driver.close();
    }
  };
  const keyError = (err: unknown): never => {
    throw err instanceof OneError ? err : new OneError(ErrorCode.ACTION, (err as Error).message);
  };
  return {
    location: async (ds) => {
      const f = factory(ds);
      return f.location(f.parseConfig(ds));
    },
    capacity: async (ds) => {
      const measure = async (d: DatastoreDriver) => d.filesystem?.();
      const asked = opened && ds.id >= 0 ? opened(ds).then(measure) : withDriver(ds, measure);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), CAPACITY_TIMEOUT_MS);
        timer.unref();
      });
      try {
        return await Promise.race([asked.catch(() => undefined), late]);
      } finally {
        clearTimeout(timer);
      }
    },
    survey: (ds) =>
      withDriver(ds, async (d) => ({
        identity: await readIdentity(d, storageName(ds)),
        empty: await d.isEmpty(),
      })),
    claim: (ds, identity) => withDriver(ds, (d) => d.writeIdentity(encodeIdentity(identity))),
    manifests: (ds, keyOf) =>
      withDriver(ds, async (d) => {
        const key = keyOf === undefined ? undefined : await keys.load(keyOf).catch(keyError);
        const found: FoundManifest[] = [];
        const unreadable: { path: string; message: string }[] = [];
        let locked = 0;
        for (const path of await d.listManifests('')) {
          try {
            const bytes = await d.getManifest(path);
            if (!key && isEncryptedManifest(bytes)) {
              locked++;
              continue;
            }
            const m = decodeManifest(bytes, path, key);
            found.push({
              path,
              vmId: m.vmId,
              createdAt: m.createdAt,
              sizeBytes: m.disks.reduce((s, x) => s + x.virtualSize, 0),
              format: m.disks.every((x) => x.format === 'raw') ? 'raw' : 'qcow2',
              encrypted: m.encrypted,
              stats: incrementStats(m),
              chain: m.chain,
              parent: m.parent ?? null,
            });
          } catch (err) {
            unreadable.push({ path, message: (err as Error).message });
          }
        }
        return { found, unreadable, locked };
      }),
    exportKey: (id, uuid, passphrase) => keys.exportWrapped(id, uuid, passphrase).catch(keyError),
    importKey: (id, uuid, wrapped, passphrase) =>
      keys.importWrapped(id, uuid, wrapped, passphrase).catch(keyError),
  };
}
