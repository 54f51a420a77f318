/**
 * Restore: manifest -> chunks (GCM tag and digest checked by the workers) -> written at their
 * offsets into a new disk, holes left sparse. A failure aborts the new disk: no half disk stays.
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { HypervisorDriver } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from './chunk-codec.js';
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

export async function restoreDisk(req: RestoreRequest): Promise<void> {
  const { disk, manifest } = req;
  const writer = await req.hypervisor.createDisk(req.target, disk.format, disk.virtualSize);
  const inFlight = Math.max(2, req.pool.threads * 2);
  const queue = new PQueue({ concurrency: inFlight });
  let failure: unknown;
  try {
    for (const [i, id] of disk.chunks.entries()) {
      if (id === null) continue;
      if (failure) break;
      req.signal?.throwIfAborted();
      await queue.onSizeLessThan(1);
      queue
        .add(async () => {
          const payload = await req.datastore.getChunk(id, { signal: req.signal });
          const plain = await req.pool.decode(id, payload, req.keys, req.signal);
          await writer.write(i * manifest.chunkSize, plain);
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
