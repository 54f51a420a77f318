/**
 * The copy of one backup increment into another datastore (issue 12, item 4): only the chunks
 * the target lacks cross, then one flush, then the manifest, written last (as a backup's).
 * Chunk IDs are keyed per datastore when encrypted (HMAC under the datastore's MAC key), so the
 * bytes move unchanged only between two datastores whose chunks have the same IDs and codec keys:
 * both plain, or both encrypted with the same keys (one imported into the other). Otherwise each
 * chunk is decoded (GCM tag and digest checked) and encoded again for the target (its ID, its
 * compression, its key), and the manifest is written again with the target's IDs and integrity.
 * Which source chunk became which target chunk is read off the previous copy of the same VM
 * (the two manifests, position by position), so an increment decodes only chunks new since then.
 * Every chunk read from the source is checked (decoded) before it is written: a corrupt source
 * chunk is quarantined there and fails the copy, never propagates. A target chunk that a
 * manifest of the target vouches for is trusted on its size and header; one no manifest vouches
 * for (a crashed copy's, another VM's) is decoded before it is reused.
 */
import PQueue from 'p-queue';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import type { Clock } from '../clock.js';
import { ErrorCode, OneError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChunkIdHash, Compression } from '../model.js';
import { CHUNK_HEADER, ChunkCorruptError, storedChunkProblem } from './chunk-codec.js';
import type { ChunkSlot } from './chunk-slots.js';
import { decodeManifest, diskDigest, encodeManifest, type Manifest } from './manifest.js';
import type { DatastoreToOpen } from './open-datastores.js';
import type { ChunkPool } from './pool.js';
import { readChunk } from './restore.js';

export interface CopySide {
  readonly id: number;
  readonly driver: DatastoreDriver;
  readonly keys: ChunkKeys | undefined;
  readonly compression: Compression;
  readonly level: number;
  /** How the datastore names its chunks: a re-encoded chunk gets the target's kind of ID. */
  readonly chunkIds: ChunkIdHash;
}

export interface CopyRequest {
  readonly source: CopySide;
  readonly target: CopySide;
  /** The increment's manifest path, the same in both datastores. */
  readonly manifestPath: string;
  /** The previous copy of the same VM: its manifest in the source and in the target. */
  readonly previous?: { readonly source: Manifest; readonly target: Manifest } | undefined;
  readonly pool: ChunkPool;
  readonly now: () => number;
  readonly signal?: AbortSignal | undefined;
}

/** One increment's copy as the runner takes it; `previousPath` is the VM's last copied one. */
export interface CopyJob {
  readonly source: DatastoreToOpen;
  readonly target: DatastoreToOpen;
  readonly manifestPath: string;
  readonly previousPath?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface CopyResult {
  /** The manifest as the target holds it. */
  readonly manifest: Manifest;
  /** Distinct chunks the increment names, those written to the target, and their stored bytes. */
  readonly chunks: number;
  readonly chunksWritten: number;
  readonly bytesWritten: number;
  /** Bytes of chunk payloads read from the source. */
  readonly bytesRead: number;
  /** Whether chunks were decoded and encoded again (different keys or encryption on each side). */
  readonly reencoded: boolean;
  readonly durationMs: number;
}

const sameKeys = (a: ChunkKeys | undefined, b: ChunkKeys | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : Buffer.from(a.mac).equals(Buffer.from(b.mac)) && Buffer.from(a.enc).equals(Buffer.from(b.enc));

/** Source chunk ID -> target chunk ID, from the previous copy's two manifests, position by position. */
function knownMapping(previous: CopyRequest['previous']): Map<string, string> {
  const map = new Map<string, string>();
  if (!previous) return map;
  for (const s of previous.source.disks) {
    const t = previous.target.disks.find((d) => d.diskId === s.diskId);
    if (!t || t.chunks.length !== s.chunks.length) continue;
    s.chunks.forEach((id, i) => {
      const to = t.chunks[i];
      if (id && to) map.set(id, to);
    });
  }
  return map;
}

/** The previous copy's manifests in both datastores, or undefined when either cannot be read. */
export async function previousPair(
  source: CopySide,
  target: CopySide,
  path: string,
): Promise<CopyRequest['previous']> {
  try {
    const read = async (side: CopySide) =>
      decodeManifest(await side.driver.getManifest(path), `${side.id}:${path}`, side.keys);
    return { source: await read(source), target: await read(target) };
  } catch {
    return undefined;
  }
}

export async function copyIncrement(req: CopyRequest): Promise<CopyResult> {
  const started = req.now();
  const { source, target, pool, signal } = req;
  const sourceBytes = await source.driver.getManifest(req.manifestPath, { signal });
  const manifest = decodeManifest(sourceBytes, `${source.id}:${req.manifestPath}`, source.keys);
  const raw = sameKeys(source.keys, target.keys);
  const encrypted = target.keys !== undefined;
  const mapping = raw ? new Map<string, string>() : knownMapping(req.previous);
  const vouched = new Set<string>();
  for (const d of req.previous?.target.disks ?? []) for (const c of d.chunks) if (c) vouched.add(c);
  // Distinct chunks with their plaintext length (the last chunk of a disk may be short).
  const lengths = new Map<string, number>();
  for (const d of manifest.disks)
    d.chunks.forEach((id, i) => {
      if (id && !lengths.has(id))
        lengths.set(id, Math.min(manifest.chunkSize, d.virtualSize - i * manifest.chunkSize));
    });
  const stats = { chunksWritten: 0, bytesWritten: 0, bytesRead: 0 };

  /** Whether the target has a whole chunk `id` (decoded when no manifest vouches for it). */
  const present = async (id: string, length: number): Promise<'yes' | 'no' | 'replace'> => {
    const head = await target.driver.chunkHead(id, CHUNK_HEADER);
    if (!head) return 'no';
    if (storedChunkProblem(head, length, encrypted) !== undefined) return 'replace';
    if (vouched.has(id)) return 'yes';
    const stored = await target.driver.getChunk(id, { signal }).catch(() => undefined);
    if (!stored) return 'replace';
    return pool.decode(id, stored, target.keys, signal).then(
      () => 'yes',
      () => 'replace',
    );
  };

  /** Reads a source chunk into the slot's payload and decodes it (checking it) into its plain region. */
  const readChecked = async (slot: ChunkSlot, id: string): Promise<{ stored: number; plain: number }> => {
    const stored = await readChunk(source.driver, id, slot.payload, signal).catch((err: unknown) => {
      if (source.driver.isNotFound(err))
        throw new OneError(
          ErrorCode.ACTION,
          `chunk ${id} is missing from datastore ${source.id}, the copy's source; run onedatastore verify ${source.id} (the next backup of the VM writes it again)`,
        );
      throw err;
    });
    stats.bytesRead += stored;
    const plain = await pool.decodeSlot(slot, id, stored, source.keys).catch(async (err: unknown) => {
      if (!(err instanceof ChunkCorruptError)) throw err;
      await source.driver.quarantineChunk(id).catch(() => false);
      throw new OneError(
        ErrorCode.ACTION,
        `${err.message} in datastore ${source.id}, the copy's source: moved aside; the next backup of the VM writes it again`,
      );
    });
    return { stored, plain };
  };

  const put = async (id: string, bytes: Uint8Array, replace: boolean) => {
    if (await target.driver.putChunk(id, bytes, { signal, replace })) {
      stats.chunksWritten += 1;
      stats.bytesWritten += bytes.length;
    }
  };

  const copyOne = async (id: string, length: number): Promise<void> => {
    const known = raw ? id : mapping.get(id);
    const found = known === undefined ? 'no' : await present(known, length);
    if (known !== undefined && found === 'yes') {
      mapping.set(id, known);
      return;
    }
    const slot = await slots.acquire();
    try {
      const { stored } = await readChecked(slot, id);
      if (raw) {
        await put(id, slot.payload.subarray(0, stored), found === 'replace');
        return;
      }
      const encoded = await pool.encodeSlot(slot, length, {
        compression: target.compression,
        level: target.level,
        keys: target.keys,
        chunkIds: target.chunkIds,
      });
      mapping.set(id, encoded.id);
      const there = encoded.id === known ? found : await present(encoded.id, length);
      if (there !== 'yes')
        await put(encoded.id, slot.payload.subarray(0, encoded.length), there === 'replace');
    } finally {
      slots.release(slot);
    }
  };

  const slots = pool.slots();
  const queue = new PQueue({ concurrency: slots.count });
  let failure: unknown;
  for (const [id, length] of lengths) {
    if (failure) break;
    signal?.throwIfAborted();
    queue
      .add(() => copyOne(id, length))
      .catch((err: unknown) => {
        failure ??= err;
      });
    // Bounded: never more queued than in flight.
    if (queue.size >= slots.count) await queue.onSizeLessThan(slots.count);
  }
  await queue.onIdle();
  if (failure) throw failure;
  signal?.throwIfAborted();
  await target.driver.flush({ signal });
  let copied: Manifest = manifest;
  if (raw) await target.driver.putManifest(req.manifestPath, sourceBytes, { signal });
  else {
    const disks = manifest.disks.map((d) => {
      const chunks = d.chunks.map((c) => (c === null ? null : (mapping.get(c) as string)));
      // Host digests are keyed with the source's key, which the target does not share.
      const { hostDigests: _sourceKeyed, ...disk } = d;
      return { ...disk, chunks, digest: diskDigest(chunks) };
    });
    const { integrity: _integrity, ...body } = manifest;
    copied = {
      ...body,
      compression: target.compression,
      compressionLevel: target.level,
      encrypted,
      disks,
    };
    await target.driver.putManifest(req.manifestPath, encodeManifest(copied, target.keys), { signal });
  }
  return {
    manifest: copied,
    chunks: lengths.size,
    ...stats,
    reencoded: !raw,
    durationMs: req.now() - started,
  };
}

/** A CopyJob between two opened datastores: the previous copy's manifests read, then the copy. */
export async function runCopy(
  job: CopyJob,
  source: CopySide,
  target: CopySide,
  deps: { readonly pool: ChunkPool; readonly clock: Clock; readonly log: Logger },
): Promise<CopyResult> {
  const previous = job.previousPath ? await previousPair(source, target, job.previousPath) : undefined;
  if (job.previousPath && !previous)
    deps.log.warn('previous copy unreadable; every chunk of this one is checked', {
      datastore: target.id,
      manifest: job.previousPath,
    });
  return copyIncrement({
    source,
    target,
    manifestPath: job.manifestPath,
    previous,
    pool: deps.pool,
    now: () => deps.clock.now(),
    signal: job.signal,
  });
}
