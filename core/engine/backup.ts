/**
 * One VM backup: point in time -> extents -> 4 MiB chunks aligned to disk offsets -> workers
 * (digest, compress, encrypt) -> datastore -> manifest, written last. All-zero chunks are
 * recorded, never stored, and found before any hashing (a memcmp on the main thread); chunks the
 * datastore has are not written again. Chunks in flight live in the run's shared slots
 * (chunk-slots.ts), whose number bounds them, so memory stays flat whatever the disk size. An
 * abort stops reading, waits for the chunks in flight and writes no manifest: nothing
 * half-visible is left.
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { HypervisorDriver, PointInTime } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import type { Compression } from '../model.js';
import { type ChangedChunks, captureOf, changedChunks, chunksTouched } from './changed-chunks.js';
import {
  CHUNK_SIZE,
  diskDigest,
  encodeManifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestDisk,
} from './manifest.js';
import type { ChunkPool } from './pool.js';

export interface BackupProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export interface BackupRequest {
  readonly pit: PointInTime;
  readonly hypervisor: HypervisorDriver;
  readonly datastore: DatastoreDriver;
  readonly pool: ChunkPool;
  readonly compression: Compression;
  readonly compressionLevel: number;
  readonly keys: ChunkKeys | undefined;
  readonly manifestPath: string;
  readonly parent: string | null;
  /** The previous backup of these disks: chunks whose ID is unchanged are not compressed again. */
  readonly previous?: Manifest | undefined;
  /** The checkpoint (of `previous`) whose changed blocks the point in time reports. */
  readonly changesSince?: string | undefined;
  readonly now: () => number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: BackupProgress) => void) | undefined;
}

const ZERO = Buffer.alloc(CHUNK_SIZE);

function isZero(buf: Uint8Array): boolean {
  return ZERO.subarray(0, buf.length).equals(buf);
}

export async function runBackup(req: BackupRequest): Promise<Manifest> {
  const started = req.now();
  const slots = req.pool.slots();
  const queue = new PQueue({ concurrency: slots.count });
  const stats = { bytesRead: 0, bytesStored: 0, bytesDeduplicated: 0, bytesZero: 0 };
  const total = req.pit.disks.reduce((s, d) => s + d.virtualSize, 0);
  let done = 0;
  const options = { compression: req.compression, level: req.compressionLevel, keys: req.keys };
  const disks: ManifestDisk[] = [];
  const changes: ChangedChunks[] = [];
  let failure: unknown;

  try {
    for (const disk of req.pit.disks) {
      const count = Math.ceil(disk.virtualSize / CHUNK_SIZE);
      const previous = req.previous?.disks.find(
        (d) =>
          d.diskId === disk.diskId &&
          d.virtualSize === disk.virtualSize &&
          req.previous?.encrypted === (req.keys !== undefined),
      );
      const ids: (string | null)[] = new Array(count).fill(null);
      const withData = chunksTouched(await req.hypervisor.extents(req.pit, disk.diskId));
      // Changed-block tracking: chunks no changed block touches are the previous backup's.
      const changed = await changedChunks(req.pit, disk, previous, req.datastore);
      changes.push(changed);
      for (let i = 0; i < count; i++) {
        req.signal?.throwIfAborted();
        if (failure) break;
        const length = Math.min(CHUNK_SIZE, disk.virtualSize - i * CHUNK_SIZE);
        const unchanged = changed.unchanged.get(i);
        if (unchanged !== undefined) {
          ids[i] = unchanged;
          if (unchanged === null) stats.bytesZero += length;
          else stats.bytesDeduplicated += length;
          done += length;
          continue;
        }
        if (!withData.has(i)) {
          stats.bytesZero += length;
          done += length;
          continue;
        }
        // A free slot is the bound on chunks in flight: reading waits for one.
        const slot = await slots.acquire();
        const plain = slot.plain.subarray(0, length);
        try {
          req.signal?.throwIfAborted();
          await req.hypervisor.read(req.pit, disk.diskId, i * CHUNK_SIZE, plain);
        } catch (err) {
          slots.release(slot);
          throw err;
        }
        stats.bytesRead += length;
        if (isZero(plain)) {
          slots.release(slot);
          stats.bytesZero += length;
          done += length;
          continue;
        }
        queue
          .add(async () => {
            try {
              const previousId = previous?.chunks[i] ?? undefined;
              let { id, length: stored } = await req.pool.encodeSlot(slot, length, options, previousId);
              if (stored === 0 && !(await req.datastore.hasChunk(id))) {
                // The previous backup's chunk is gone (deleted, or quarantined as bad): the source is
                // right here, so encode it again and write it, instead of failing every later backup.
                ({ id, length: stored } = await req.pool.encodeSlot(slot, length, options));
              }
              ids[i] = id;
              if (stored === 0) {
                stats.bytesDeduplicated += length;
              } else if (
                await req.datastore.putChunk(id, slot.payload.subarray(0, stored), { signal: req.signal })
              )
                stats.bytesStored += stored;
              else stats.bytesDeduplicated += length;
            } finally {
              slots.release(slot);
            }
            done += length;
            req.onProgress?.({ bytesDone: done, bytesTotal: total });
          })
          .catch((err: unknown) => {
            failure ??= err;
          });
      }
      await queue.onIdle();
      if (failure) throw failure;
      req.signal?.throwIfAborted();
      disks.push({
        diskId: disk.diskId,
        format: disk.format,
        virtualSize: disk.virtualSize,
        chunks: ids,
        digest: diskDigest(ids),
      });
    }
  } catch (err) {
    // Nothing may outlive the run: chunks in flight finish (or fail) before the error goes up.
    await queue.onIdle();
    throw err;
  }
  await queue.onIdle();
  if (failure) throw failure;
  req.signal?.throwIfAborted();
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    vmId: req.pit.vmId,
    createdAt: Math.floor(started / 1000),
    chunkSize: CHUNK_SIZE,
    compression: req.compression,
    compressionLevel: req.compressionLevel,
    encrypted: req.keys !== undefined,
    parent: req.parent,
    disks,
    stats: { ...stats, durationMs: req.now() - started },
    ...captureOf(req.hypervisor.name, req.pit, changes, req.changesSince),
  };
  await req.datastore.putManifest(req.manifestPath, encodeManifest(manifest, req.keys), {
    signal: req.signal,
  });
  return manifest;
}
