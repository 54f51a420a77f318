/**
 * Restore: manifest -> chunks (GCM tag and digest checked by the workers) -> written at their
 * offsets into a new disk, holes left sparse. Chunks go through reusable shared slots (no
 * per-chunk buffers between threads). A failure aborts the new disk: no half disk stays.
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { HypervisorDriver } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import { ChunkCorruptError } from './chunk-codec.js';
import type { Manifest, ManifestDisk } from './manifest.js';
import type { ChunkPool } from './pool.js';

export interface RestoreRequest {
  readonly manifest: Manifest;
  readonly disk: ManifestDisk;
  readonly target: string;
  readonly hypervisor: HypervisorDriver;
  readonly datastore: DatastoreDriver;
  readonly pool: ChunkPool;
  readonly keys: ChunkKeys | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Reads a stored chunk into `into` (in place when the driver can); returns its length. */
async function readChunk(
  datastore: DatastoreDriver,
  id: string,
  into: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (datastore.getChunkInto) return datastore.getChunkInto(id, into, { signal });
  const payload = await datastore.getChunk(id, { signal });
  if (payload.length > into.length)
    throw new ChunkCorruptError(`chunk ${id}: ${payload.length} bytes, too large for a chunk`);
  into.set(payload);
  return payload.length;
}

export async function restoreDisk(req: RestoreRequest): Promise<void> {
  const { disk, manifest } = req;
  const writer = await req.hypervisor.createDisk(req.target, disk.format, disk.virtualSize);
  const slots = req.pool.slots();
  const queue = new PQueue({ concurrency: slots.count });
  let failure: unknown;
  try {
    for (const [i, id] of disk.chunks.entries()) {
      if (id === null) continue;
      if (failure) break;
      req.signal?.throwIfAborted();
      // A free slot is the bound on chunks in flight.
      const slot = await slots.acquire();
      queue
        .add(async () => {
          try {
            const stored = await readChunk(req.datastore, id, slot.payload, req.signal);
            const length = await req.pool
              .decodeSlot(slot, id, stored, req.keys)
              .catch(async (err: unknown) => {
                // A bad chunk is moved aside: the next backup of the same data writes it again.
                if (err instanceof ChunkCorruptError)
                  await req.datastore.quarantineChunk(id).catch(() => false);
                throw err;
              });
            await writer.write(i * manifest.chunkSize, slot.plain.subarray(0, length));
          } finally {
            slots.release(slot);
          }
        })
        .catch((err: unknown) => {
          failure ??= err;
        });
    }
    await queue.onIdle();
    if (failure) throw failure;
    req.signal?.throwIfAborted();
    await writer.commit();
  } catch (err) {
    await queue.onIdle();
    await writer.abort();
    throw err;
  }
}
