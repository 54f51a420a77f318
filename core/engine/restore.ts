/**
 * Restore: manifest -> chunks (GCM tag and digest checked by the workers) -> written at their
 * offsets into a new disk, holes left sparse. Chunks go through reusable shared slots (no
 * per-chunk buffers between threads). Every CHECKPOINT_EVERY chunks the writer makes what it
 * wrote durable and records it, so an interrupted restore resumes without writing it again; the
 * only other flush is the writer's commit at the end. A
 * failure aborts the new disk (no half disk stays) or, for restores that can be resumed, keeps
 * the partial file under its journal entry (restore-journal.ts).
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { DiskWriter } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import type { ProgressCounter } from '../progress.js';
import { ChunkCorruptError } from './chunk-codec.js';
import type { Manifest, ManifestDisk } from './manifest.js';
import type { ChunkPool } from './pool.js';

export interface RestoreRequest {
  readonly manifest: Manifest;
  readonly disk: ManifestDisk;
  /** The disk's writer (createDisk): a resumed one lists in `done` the chunks already there. */
  readonly writer: DiskWriter;
  readonly datastore: DatastoreDriver;
  readonly pool: ChunkPool;
  readonly keys: ChunkKeys | undefined;
  /** On failure keep the partial disk for a resume (suspend) instead of removing it (abort). */
  readonly keepOnFailure: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Counts the bytes written (and those a resumed restore finds already there). */
  readonly progress?: ProgressCounter | undefined;
}

/**
 * Chunks written between two checkpoints (made durable and recorded for a resume): 256 MiB, so a
 * restore flushes a few times and at its end, not per write; a resume redoes at most that much.
 */
const CHECKPOINT_EVERY = 64;

/** Bytes a disk's stored chunks fill once restored, leaving out chunks already written. */
export function allocatedBytes(manifest: Manifest, disk: ManifestDisk, done: ReadonlySet<number>): number {
  let bytes = 0;
  for (const [i, id] of disk.chunks.entries()) {
    const offset = i * manifest.chunkSize;
    if (id !== null && !done.has(offset)) bytes += Math.min(manifest.chunkSize, disk.virtualSize - offset);
  }
  return bytes;
}

/** Reads a stored chunk into `into` (in place when the driver can); returns its length. */
export async function readChunk(
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

/** Writes one disk; resolves to the number of chunks a previous attempt had written (skipped). */
export async function restoreDisk(req: RestoreRequest): Promise<number> {
  const { disk, manifest, writer } = req;
  const slots = req.pool.slots();
  const queue = new PQueue({ concurrency: slots.count });
  let failure: unknown;
  let skipped = 0;
  let sinceCheckpoint = 0;
  let checkpoint: Promise<void> = Promise.resolve();
  try {
    for (const [i, id] of disk.chunks.entries()) {
      if (id === null) continue;
      if (writer.done.has(i * manifest.chunkSize)) {
        skipped += 1;
        if (req.progress)
          req.progress.bytesDone += Math.min(manifest.chunkSize, disk.virtualSize - i * manifest.chunkSize);
        continue;
      }
      if (failure) break;
      req.signal?.throwIfAborted();
      // A free slot is the bound on chunks in flight.
      const slot = await slots.acquire();
      queue
        .add(async () => {
          let payloadHeld = true;
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
            // Decoded: the payload region goes back at once, the plaintext waits for the disk.
            slots.releasePayload(slot.payloadRegion);
            payloadHeld = false;
            await writer.write(i * manifest.chunkSize, slot.plain.subarray(0, length));
            if (req.progress) {
              req.progress.bytesDone += length;
              req.progress.chunksDone += 1;
            }
          } finally {
            if (payloadHeld) slots.releasePayload(slot.payloadRegion);
            slots.releasePlain(slot.plainRegion);
          }
          if (++sinceCheckpoint >= CHECKPOINT_EVERY) {
            sinceCheckpoint = 0;
            checkpoint = checkpoint
              .then(() => writer.checkpoint())
              .catch((err: unknown) => {
                failure ??= err;
              });
          }
        })
        .catch((err: unknown) => {
          failure ??= err;
        });
    }
    await queue.onIdle();
    await checkpoint;
    if (failure) throw failure;
    req.signal?.throwIfAborted();
    await writer.commit();
    return skipped;
  } catch (err) {
    await queue.onIdle();
    await checkpoint;
    if (req.keepOnFailure) await writer.suspend();
    else await writer.abort();
    throw err;
  }
}
