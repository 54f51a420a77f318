/**
 * One VM backup: point in time -> extents -> 4 MiB chunks aligned to disk offsets -> workers
 * (digest, compress, encrypt) -> datastore -> one flush -> manifest, written last. All-zero chunks
 * are recorded, never stored, and found before any hashing (a memcmp on the main thread); chunks
 * the datastore has are not written again, unless their size or header shows a crash tore them.
 * Chunks in flight live in the daemon's shared regions (chunk-slots.ts), whose number bounds
 * them, so memory stays flat whatever the disk size. An abort stops reading, waits for the chunks
 * in flight and writes no manifest: nothing half-visible is left.
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { HypervisorDriver, PointInTime } from '../../drivers/hypervisor/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import type { HostDigestKind } from '../host-digest.js';
import type { ChunkIdHash, Compression } from '../model.js';
import { type ChangedChunks, captureOf, changedChunks, chunksTouched } from './changed-chunks.js';
import { CHUNK_HEADER, storedChunkProblem } from './chunk-codec.js';
import type { Region } from './chunk-slots.js';
import { digestedChunks, previousDigests } from './digested-chunks.js';
import { hostDigestKey } from './host-digest-keys.js';
import {
  CHUNK_SIZE,
  diskDigest,
  encodeManifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestDisk,
} from './manifest.js';
import { PhaseTimes } from './phase-times.js';
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
  /** How the datastore names its chunks (its identity says: datastore-identity.ts). */
  readonly chunkIds: ChunkIdHash;
  readonly manifestPath: string;
  readonly parent: string | null;
  /** The chain's first manifest (default: this one, a FULL). */
  readonly chain?: string | undefined;
  /** The previous backup of these disks: chunks whose ID is unchanged are not compressed again. */
  readonly previous?: Manifest | undefined;
  /** The checkpoint (of `previous`) whose changed blocks the point in time reports. */
  readonly changesSince?: string | undefined;
  /** An increment with INCREMENT_MODE=CBT: disks read whole say why. */
  readonly changeTracking?: boolean | undefined;
  readonly now: () => number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: BackupProgress) => void) | undefined;
  /** Where the backup's time goes, phase by phase (a debug breakdown). */
  readonly phases?: PhaseTimes | undefined;
}

/**
 * A disk's host digests (core/host-digest.ts): keyed with its host digest key on an encrypted
 * datastore, plain SHA-256 on an unencrypted one; each chunk's so far (undefined: not known).
 */
interface HostDigests {
  /** What the workers and the host's agent are asked for: sent to each, so without the digests. */
  readonly kind: HostDigestKind;
  readonly digests: (string | null | undefined)[];
}

/** The manifest's `hostDigests` for a disk: only when every chunk's is known. */
function recordedHostDigests(host: HostDigests | undefined): { hostDigests?: (string | null)[] } {
  if (!host || host.digests.some((d) => d === undefined)) return {};
  return { hostDigests: host.digests as (string | null)[] };
}

const ZERO = Buffer.alloc(CHUNK_SIZE);

function isZero(buf: Uint8Array): boolean {
  return ZERO.subarray(0, buf.length).equals(buf);
}

/** Encoded chunks written at once per backup; more wait in the queue, each holding a payload region. */
const WRITE_DEPTH = 4;
/**
 * Chunks read at once per backup: a read that waits on a round trip (a host's agent over SSH, an
 * NBD export) overlaps the next ones. Each holds a plaintext region, so memory stays bounded.
 */
const READ_DEPTH = 4;

export async function runBackup(req: BackupRequest): Promise<Manifest> {
  const started = req.now();
  const phases = req.phases ?? new PhaseTimes(req.now);
  const slots = req.pool.slots();
  // Encoding and writing queue apart: an encoded chunk frees its plaintext region (the next read)
  // at once, and its payload waits for the disk behind at most WRITE_DEPTH writes in flight.
  const reads = new PQueue({ concurrency: READ_DEPTH });
  const compute = new PQueue({ concurrency: slots.count });
  const writes = new PQueue({ concurrency: WRITE_DEPTH });
  const idle = async () => {
    // Reads queue encodes, and encodes queue writes: drained in that order.
    await reads.onIdle();
    await compute.onIdle();
    await writes.onIdle();
  };
  const stats = { bytesRead: 0, bytesStored: 0, bytesDeduplicated: 0, bytesZero: 0 };
  const total = req.pit.disks.reduce((s, d) => s + d.virtualSize, 0);
  let done = 0;
  const options = {
    compression: req.compression,
    level: req.compressionLevel,
    keys: req.keys,
    chunkIds: req.chunkIds,
  };
  const disks: ManifestDisk[] = [];
  const changes: ChangedChunks[] = [];
  let failure: unknown;
  /** The current disk's checks of unchanged chunks (changed-chunks.ts), awaited before returning. */
  let checks: Promise<unknown> = Promise.resolve();
  const fail = (err: unknown) => {
    failure ??= err;
  };
  const finished = (length: number) => {
    done += length;
    req.onProgress?.({ bytesDone: done, bytesTotal: total });
  };

  /** Whether the chunk the previous backup stored under `id` looks whole (a crash may have torn it). */
  const reusable = async (id: string, length: number): Promise<boolean> => {
    const found = await req.datastore.chunkHead(id, CHUNK_HEADER);
    return found !== undefined && storedChunkProblem(found, length, req.keys !== undefined) === undefined;
  };

  /**
   * Stores an encoded chunk unless the datastore has it already, size and header alike; one of
   * another size or header (short, torn) is written over, never trusted.
   */
  const store = async (id: string, payload: Uint8Array, length: number): Promise<void> => {
    const found = await req.datastore.chunkHead(id, CHUNK_HEADER);
    if (found && found.size === payload.length && found.head.equals(payload.subarray(0, CHUNK_HEADER))) {
      // A chunk no manifest vouches for may be a file a crash left with its size right and its
      // body lost (written, never flushed, by a backup that did not finish): it is trusted only
      // when it is byte for byte what this backup would write. (Chunks of the previous manifest,
      // flushed before it was written, take the cheaper header check in `reusable`.)
      const stored = await req.datastore.getChunk(id, { signal: req.signal }).catch(() => undefined);
      // Unencrypted chunks encode the same bytes every time; encrypted ones (a fresh nonce) are
      // checked by decoding them (GCM tag and digest), in a worker.
      const whole =
        stored !== undefined &&
        (stored.equals(payload) ||
          (req.keys !== undefined &&
            (await req.pool.decode(id, stored, req.keys, req.signal).then(
              () => true,
              () => false,
            ))));
      if (whole) {
        stats.bytesDeduplicated += length;
        return;
      }
    }
    const replace = found !== undefined;
    if (await req.datastore.putChunk(id, payload, { signal: req.signal, replace }))
      stats.bytesStored += payload.length;
    else stats.bytesDeduplicated += length;
  };

  /**
   * Encodes chunk `i` (read into `plain`), then queues its write; gives `plain` back once encoded.
   * With `host`, records the chunk's host digest in `hostDigests` too.
   */
  const encode = async (
    ids: (string | null)[],
    i: number,
    previousId: string | undefined,
    plain: Region,
    length: number,
    host: HostDigests | undefined,
  ) => {
    const payload = await slots.acquirePayload();
    const slot = slots.pair(plain, payload);
    let writing = false;
    try {
      const first = await phases.time('encode', () =>
        req.pool.encodeSlot(slot, length, options, previousId, host?.kind),
      );
      let { id, length: stored } = first;
      if (host) host.digests[i] = first.hostDigest;
      if (stored === 0 && !(await reusable(id, length))) {
        // The previous backup's chunk is gone or bad (deleted, quarantined, torn by a crash): the
        // source is right here, so encode it again and write it, instead of failing later restores.
        ({ id, length: stored } = await req.pool.encodeSlot(slot, length, options));
      }
      ids[i] = id;
      if (stored === 0) {
        stats.bytesDeduplicated += length;
        finished(length);
        return;
      }
      writing = true;
      writes
        .add(async () => {
          try {
            await phases.time('store', () => store(id, slot.payload.subarray(0, stored), length));
          } finally {
            slots.releasePayload(payload);
          }
          finished(length);
        })
        .catch(fail);
    } finally {
      slots.releasePlain(plain);
      if (!writing) slots.releasePayload(payload);
    }
  };

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
      // A disk on another host whose agent's digest of a chunk is not its ID: an encrypted
      // datastore (the agent hashes with the disk's host digest key: no datastore key on hosts)
      // or a BLAKE3 one (the agent has SHA-256 only). This manifest records each chunk's host
      // digest, computed by the workers from the bytes stored, for the next increment to compare.
      const host: HostDigests | undefined =
        req.hypervisor.chunkDigests !== undefined && (req.keys !== undefined || req.chunkIds !== 'sha256')
          ? {
              kind: { key: req.keys && hostDigestKey(req.keys, req.pit.vmId, disk.diskId) },
              digests: new Array(count).fill(undefined),
            }
          : undefined;
      const hostBefore = host ? previousDigests(previous, host.kind) : undefined;
      const withData = chunksTouched(
        await phases.time('extents', () => req.hypervisor.extents(req.pit, disk.diskId)),
      );
      // Changed-block tracking: chunks no changed block touches are the previous backup's, once
      // checked present and whole; the changed ones are read meanwhile (they come first).
      const plan = changedChunks(req.pit, disk, previous, reusable, req.changeTracking === true);
      checks = plan.checked;
      // Handled here too: a failed check must not be an unhandled rejection while chunks are read.
      checks.catch(() => undefined);
      const late = new Set(plan.candidates);
      const order: number[] = [];
      for (let i = 0; i < count; i++) if (!late.has(i)) order.push(i);
      order.push(...plan.candidates);
      let changed: ChangedChunks | undefined;
      // No changed blocks to go by, and the disk is on another host: ask it which chunks differ.
      const digested =
        req.pit.changes?.get(disk.diskId)?.kind === 'extents' && req.changeTracking === true
          ? undefined
          : await phases.time('digests', () =>
              digestedChunks(
                req.hypervisor,
                req.pit,
                disk,
                previous,
                host?.kind,
                withData,
                reusable,
                req.signal,
              ),
            );
      const chunksStarted = req.now();
      for (const i of order) {
        req.signal?.throwIfAborted();
        if (failure) break;
        if (late.has(i) && !changed) changed = await phases.time('unchanged', () => plan.checked);
        const length = Math.min(CHUNK_SIZE, disk.virtualSize - i * CHUNK_SIZE);
        const unchanged = changed?.unchanged.has(i) ? changed.unchanged.get(i) : digested?.get(i);
        if (unchanged !== undefined) {
          ids[i] = unchanged;
          // Taken from the previous backup: so is its host digest (unknown if it had none).
          if (host) host.digests[i] = unchanged === null ? null : (hostBefore?.[i] ?? undefined);
          if (unchanged === null) stats.bytesZero += length;
          else stats.bytesDeduplicated += length;
          done += length;
          continue;
        }
        if (!withData.has(i)) {
          if (host) host.digests[i] = null;
          stats.bytesZero += length;
          done += length;
          continue;
        }
        // A free plaintext region is the bound on chunks read ahead: reading waits for one.
        const region = await slots.acquirePlain();
        const previousId = previous?.chunks[i] ?? undefined;
        reads
          .add(async () => {
            const plain = region.bytes.subarray(0, length);
            try {
              req.signal?.throwIfAborted();
              if (failure) throw failure;
              await phases.time('read', () =>
                req.hypervisor.read(req.pit, disk.diskId, i * CHUNK_SIZE, plain),
              );
            } catch (err) {
              slots.releasePlain(region);
              throw err;
            }
            stats.bytesRead += length;
            if (isZero(plain)) {
              if (host) host.digests[i] = null;
              slots.releasePlain(region);
              stats.bytesZero += length;
              done += length;
              return;
            }
            compute.add(() => encode(ids, i, previousId, region, length, host)).catch(fail);
          })
          .catch(fail);
      }
      await idle();
      phases.add('chunks', req.now() - chunksStarted);
      if (failure) throw failure;
      req.signal?.throwIfAborted();
      changes.push(changed ?? (await plan.checked));
      disks.push({
        diskId: disk.diskId,
        format: disk.format,
        virtualSize: disk.virtualSize,
        chunks: ids,
        digest: diskDigest(ids),
        ...recordedHostDigests(host),
      });
    }
  } catch (err) {
    // Nothing may outlive the run: chunks in flight finish (or fail) before the error goes up,
    // and so do the checks of unchanged chunks.
    await idle();
    await checks.catch(() => undefined);
    throw err;
  }
  await idle();
  if (failure) throw failure;
  req.signal?.throwIfAborted();
  // Every chunk the manifest names durable first (one flush at sync level `filesystem`).
  await phases.time('flush', () => req.datastore.flush({ signal: req.signal }));
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
    chain: req.chain ?? req.manifestPath,
    disks,
    stats: { ...stats, durationMs: req.now() - started },
    ...captureOf(req.hypervisor.name, req.pit, changes, req.changesSince),
  };
  await phases.time('manifest', () =>
    req.datastore.putManifest(req.manifestPath, encodeManifest(manifest, req.keys), {
      signal: req.signal,
    }),
  );
  return manifest;
}
