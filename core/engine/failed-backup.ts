/**
 * What a failed backup leaves and how it goes. Before reading a disk, a backup checks that the
 * datastore has room for what it will at least write (an estimate: for a full backup the allocated
 * bytes of the disks, a quarter of them when the datastore compresses, as zstd often shrinks that much; what
 * the previous backup of the VM stored for an increment). A backup that passes and still runs out
 * of space fails with ENOSPC and its chunks are removed (below). While it runs, the
 * chunks it newly writes are tracked; when it fails (ENOSPC half-way, an I/O error, a kill of its
 * source), those chunks become candidates, and once no backup writes to the datastore the runner
 * deletes, under the datastore's exclusive hold, the candidates no manifest in the datastore
 * names: a chunk another backup deduplicated against meanwhile is named by that backup's manifest
 * and stays. If the daemon dies first, `onedatastore gc` frees them.
 */
import type { DatastoreDriver, PutChunkOptions } from '../../drivers/datastore/types.js';
import type { Extent } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import { ErrorCode, OneError } from '../errors.js';
import { CHUNK_SIZE, decodeManifest, type Manifest } from './manifest.js';

/** The driver, recording in `written` each chunk a putChunk wrote now (not one already there). */
export function trackingDatastore(driver: DatastoreDriver, written: Set<string>): DatastoreDriver {
  return new Proxy(driver, {
    get(target, prop) {
      if (prop === 'putChunk')
        return async (id: string, bytes: Uint8Array, o?: PutChunkOptions) => {
          const now = await target.putChunk(id, bytes, o);
          if (now) written.add(id);
          return now;
        };
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Bytes of the chunks that hold data, by the disks' extents. */
export function allocatedChunkBytes(disks: readonly { virtualSize: number; extents: Extent[] }[]): number {
  let bytes = 0;
  for (const d of disks) {
    const chunks = new Set<number>();
    for (const e of d.extents) {
      if (e.length <= 0) continue;
      for (
        let i = Math.floor(e.offset / CHUNK_SIZE);
        i <= Math.floor((e.offset + e.length - 1) / CHUNK_SIZE);
        i++
      )
        chunks.add(i);
    }
    for (const i of chunks) bytes += Math.min(CHUNK_SIZE, d.virtualSize - i * CHUNK_SIZE);
  }
  return bytes;
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/** A full backup into a compressing datastore is refused when even this much compression could not make it fit. */
const BEST_CASE_COMPRESSION = 4;

/** Refuses a backup the datastore has clearly no room for, before any disk is read. */
export async function checkBackupSpace(
  driver: DatastoreDriver,
  ds: { id: number; attributes: ReadonlyMap<string, string> },
  vmId: number,
  allocated: number,
  previous: Manifest | undefined,
): Promise<void> {
  const compresses = (ds.attributes.get('COMPRESSION') ?? 'zstd') !== 'none';
  const need = previous
    ? Math.min(allocated, Math.max(previous.stats.bytesStored, CHUNK_SIZE))
    : Math.ceil(allocated / (compresses ? BEST_CASE_COMPRESSION : 1));
  const freeBytes = driver.freeBytes ? await driver.freeBytes() : (await driver.stat()).freeBytes;
  if (freeBytes >= need) return;
  const where = ds.attributes.get('BASE_PATH');
  throw new OneError(
    ErrorCode.ACTION,
    `datastore ${ds.id}${where ? ` (${where})` : ''} has ${mib(freeBytes)} free and this backup of VM ${vmId} may write ${mib(need)} (${previous ? 'what its previous backup stored' : compresses ? `a quarter of the ${mib(allocated)} its disks hold, compressed 4:1 at best` : 'the allocated bytes of its disks'}); nothing was read. Free space there (KEEP_LAST, oneimage delete, onedatastore gc) or back up to another datastore`,
  );
}

/**
 * Deletes the candidates no manifest in the datastore names; returns how many. Runs while no
 * backup writes to the datastore. An unreadable manifest might name any chunk: then nothing goes.
 */
export async function removeOrphanChunks(
  driver: DatastoreDriver,
  candidates: ReadonlySet<string>,
  keys: ChunkKeys | undefined,
): Promise<number> {
  const orphans = new Set(candidates);
  for (const path of await driver.listManifests('')) {
    let manifest: Manifest;
    try {
      manifest = decodeManifest(await driver.getManifest(path), path, keys);
    } catch {
      return 0;
    }
    for (const d of manifest.disks) for (const id of d.chunks) if (id !== null) orphans.delete(id);
    if (orphans.size === 0) return 0;
  }
  let removed = 0;
  for (const id of orphans) {
    await driver.deleteChunk(id);
    removed += 1;
  }
  return removed;
}
