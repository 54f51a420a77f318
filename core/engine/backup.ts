/**
 * One VM backup: point in time -> extents -> 4 MiB chunks aligned to disk offsets -> workers
 * (digest, compress, encrypt) -> datastore -> manifest, written last. All-zero chunks are
 * recorded, never stored; chunks the datastore has are not written again. In-flight chunks are
 * bounded, so memory stays flat whatever the disk size. An abort stops reading, waits for the
 * chunks in flight and writes no manifest: nothing half-visible is left.
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { HypervisorDriver, PointInTime } from '../../drivers/hypervisor/types.js';
import type { Compression } from '../model.js';
import type { ChunkKeys } from './chunk-codec.js';
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
  readonly now: () => number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: BackupProgress) => void) | undefined;
}

const ZERO = Buffer.alloc(CHUNK_SIZE);

function isZero(buf: Uint8Array): boolean {
  return ZERO.subarray(0, buf.length).equals(buf);
}

/** Indexes of the chunks that intersect a data extent. */
function chunksWithData(extents: readonly { offset: number; length: number }[]): Set<number> {
  const set = new Set<number>();
  for (const e of extents) {
    const first = Math.floor(e.offset / CHUNK_SIZE);
    const last = Math.floor((e.offset + e.length - 1) / CHUNK_SIZE);
    for (let i = first; i <= last; i++) set.add(i);
  }
  return set;
}

export async function runBackup(req: BackupRequest): Promise<Manifest> {
  const started = req.now();
  const inFlight = Math.max(2, req.pool.threads * 2);
  const queue = new PQueue({ concurrency: inFlight });
  const stats = { bytesRead: 0, bytesStored: 0, bytesDeduplicated: 0, bytesZero: 0 };
  const total = req.pit.disks.reduce((s, d) => s + d.virtualSize, 0);
  let done = 0;
  const options = { compression: req.compression, level: req.compressionLevel, keys: req.keys };
  const disks: ManifestDisk[] = [];
  let failure: unknown;

  for (const disk of req.pit.disks) {
    const count = Math.ceil(disk.virtualSize / CHUNK_SIZE);
    const previous = req.previous?.disks.find(
      (d) =>
        d.diskId === disk.diskId &&
        d.virtualSize === disk.virtualSize &&
        req.previous?.encrypted === (req.keys !== undefined),
    );
    const ids: (string | null)[] = new Array(count).fill(null);
    const withData = chunksWithData(await req.hypervisor.extents(req.pit, disk.diskId));
    for (let i = 0; i < count; i++) {
      req.signal?.throwIfAborted();
      if (failure) break;
      const length = Math.min(CHUNK_SIZE, disk.virtualSize - i * CHUNK_SIZE);
      if (!withData.has(i)) {
        stats.bytesZero += length;
        done += length;
        continue;
      }
      await queue.onSizeLessThan(1);
      const buf = new Uint8Array(length);
      await req.hypervisor.read(req.pit, disk.diskId, i * CHUNK_SIZE, buf);
      stats.bytesRead += length;
      if (isZero(buf)) {
        stats.bytesZero += length;
        done += length;
        continue;
      }
      queue
        .add(async () => {
          const previousId = previous?.chunks[i] ?? undefined;
          const { id, payload } = await req.pool.encode(buf, options, req.signal, previousId);
          ids[i] = id;
          if (payload.length === 0 && id === previousId && (await req.datastore.hasChunk(id))) {
            stats.bytesDeduplicated += length;
          } else if (payload.length === 0) {
            throw new Error(
              `chunk ${id} of disk ${disk.diskId} is missing from the datastore; run onedatastore verify`,
            );
          } else if (await req.datastore.putChunk(id, payload, { signal: req.signal }))
            stats.bytesStored += payload.length;
          else stats.bytesDeduplicated += length;
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
  };
  await req.datastore.putManifest(req.manifestPath, encodeManifest(manifest), { signal: req.signal });
  return manifest;
}
