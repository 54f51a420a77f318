/**
 * Garbage collection and verification of a datastore.
 * GC marks every chunk named by a manifest in the datastore and sweeps the rest. It never deletes
 * a manifest: one the store does not reference (a crash before its record, a datastore attached
 * again) is reported, its chunks kept, for `onedatastore import` to adopt. It runs only while no backup writes to that datastore
 * (the runner's per-datastore gate), so it never removes a chunk a running backup may reference.
 * Verify reads every chunk, checks its GCM tag and digest, and names every backup it breaks; a
 * scheduled verify stops at its budget and says where the next one resumes.
 * Both take the increments the store references on the datastore from their caller: GC's list
 * must be read inside that gate, after the last backup writing to the datastore recorded its own.
 */
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import type { ChunkKeys } from '../chunk-keys.js';
import type { ProgressCounter } from '../progress.js';
import { ChunkCorruptError } from './chunk-codec.js';
import { decodeManifest } from './manifest.js';
import type { ChunkPool } from './pool.js';

export interface GcResult {
  readonly chunksKept: number;
  readonly chunksRemoved: number;
  /** Manifests the store does not reference, kept with their chunks. */
  readonly unknownManifests: readonly string[];
}

export interface VerifyProblem {
  readonly imageId: number;
  readonly incrementId: number;
  readonly diskId: number;
  readonly chunk: string;
  readonly message: string;
}

export interface VerifyResult {
  readonly chunksChecked: number;
  readonly problems: readonly VerifyProblem[];
  /** Bad chunks moved aside by this verify. */
  readonly chunksQuarantined: number;
  /** Bytes of chunk files read. */
  readonly bytesRead: number;
  /** Increments read to their end. */
  readonly completed: readonly { readonly imageId: number; readonly incrementId: number }[];
  /** Set when the budget ran out: where the next verify resumes. */
  readonly stoppedAt?: VerifyPosition;
}

/** An increment the store references on the datastore: where its manifest is. */
export interface ReferencedIncrement {
  readonly imageId: number;
  readonly incrementId: number;
  /** Manifest path in the datastore. */
  readonly source: string;
}

/**
 * Keeps every manifest and the chunks they name; removes the other chunks. A manifest `incs`
 * does not name is reported in `unknownManifests`; one that cannot be read stops the GC before
 * anything is removed (its chunks are not known).
 */
export async function collectGarbage(
  incs: readonly ReferencedIncrement[],
  driver: DatastoreDriver,
  keys: ChunkKeys | undefined,
): Promise<GcResult> {
  const known = new Set(incs.map((i) => i.source));
  const live = new Set<string>();
  const unknownManifests: string[] = [];
  const paths = new Set([...known, ...(await driver.listManifests(''))]);
  for (const path of paths) {
    const m = decodeManifest(await driver.getManifest(path), path, keys);
    for (const d of m.disks) for (const c of d.chunks) if (c !== null) live.add(c);
    if (!known.has(path)) unknownManifests.push(path);
  }
  let chunksRemoved = 0;
  let chunksKept = 0;
  for await (const id of driver.listChunks()) {
    if (live.has(id)) chunksKept++;
    else {
      await driver.deleteChunk(id);
      chunksRemoved++;
    }
  }
  await driver.cleanup();
  return { chunksKept, chunksRemoved, unknownManifests };
}

/** Where a budgeted verify stops and the next resumes: the next chunk entry of that increment. */
export interface VerifyPosition {
  readonly imageId: number;
  readonly incrementId: number;
  /** Index into the increment's chunk entries, disks one after another. */
  readonly chunk: number;
}

/** A scheduled verify's limits: bytes read and a time, whichever comes first. */
export interface VerifyLimits {
  readonly bytes?: number | undefined;
  /** Epoch ms by `now`. */
  readonly untilMs?: number | undefined;
  readonly now: () => number;
}

export interface VerifyOptions {
  /** Start here (increments before it are skipped); from the first increment when undefined. */
  readonly from?: VerifyPosition | undefined;
  /** Stop once spent (after one chunk at least, so every run moves on). */
  readonly budget?: VerifyLimits | undefined;
  /** Told how many distinct chunks there are to check (a first pass over the manifests), then each checked. */
  readonly progress?: ProgressCounter | undefined;
}

/** Distinct chunks the readable manifests of `incs` name (a manifest that cannot be read counts none). */
async function countChunks(
  incs: readonly ReferencedIncrement[],
  driver: DatastoreDriver,
  keys: ChunkKeys | undefined,
): Promise<number> {
  const ids = new Set<string>();
  for (const inc of incs) {
    try {
      const m = decodeManifest(await driver.getManifest(inc.source), inc.source, keys);
      for (const d of m.disks) for (const id of d.chunks) if (id !== null) ids.add(id);
    } catch {
      // The main pass reports it.
    }
  }
  return ids.size;
}

const before = (a: { imageId: number; incrementId: number }, b: VerifyPosition) =>
  a.imageId < b.imageId || (a.imageId === b.imageId && a.incrementId < b.incrementId);

/**
 * Reads and checks every chunk the manifests of `incs` name (ordered by image, then increment),
 * from `options.from`, until `options.budget` is spent: then `stoppedAt` says where to resume.
 */
export async function verifyBackups(
  incs: readonly ReferencedIncrement[],
  driver: DatastoreDriver,
  pool: ChunkPool,
  keys: ChunkKeys | undefined,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const verdict = new Map<string, string | null>();
  const problems: VerifyProblem[] = [];
  const completed: { imageId: number; incrementId: number }[] = [];
  const { from, budget, progress } = options;
  if (progress && !from && !budget) progress.chunksTotal = await countChunks(incs, driver, keys);
  let quarantined = 0;
  let bytesRead = 0;
  let chunksRead = 0;
  const spent = () =>
    budget !== undefined &&
    chunksRead > 0 &&
    ((budget.bytes !== undefined && bytesRead >= budget.bytes) ||
      (budget.untilMs !== undefined && budget.now() >= budget.untilMs));
  for (const inc of incs) {
    if (from && before(inc, from)) continue;
    let manifest: ReturnType<typeof decodeManifest>;
    try {
      manifest = decodeManifest(await driver.getManifest(inc.source), inc.source, keys);
    } catch (err) {
      problems.push({
        imageId: inc.imageId,
        incrementId: inc.incrementId,
        diskId: -1,
        chunk: '-',
        message: (err as Error).message,
      });
      completed.push(inc);
      continue;
    }
    const skip =
      from && from.imageId === inc.imageId && from.incrementId === inc.incrementId ? from.chunk : 0;
    let entry = 0;
    for (const disk of manifest.disks) {
      for (const id of disk.chunks) {
        const index = entry++;
        if (id === null || index < skip) continue;
        let bad = verdict.get(id);
        if (bad === undefined) {
          if (spent())
            return {
              chunksChecked: verdict.size,
              problems,
              chunksQuarantined: quarantined,
              bytesRead,
              completed,
              stoppedAt: { imageId: inc.imageId, incrementId: inc.incrementId, chunk: index },
            };
          try {
            const bytes = await driver.getChunk(id);
            bytesRead += bytes.length;
            chunksRead++;
            if (progress) progress.bytesDone += bytes.length;
            await pool.decode(id, bytes, keys);
            bad = null;
          } catch (err) {
            if (driver.isNotFound(err)) bad = `chunk ${id}: missing`;
            else if (err instanceof ChunkCorruptError) {
              // Moved aside, so the next backup of the same data writes it again.
              const moved = await driver.quarantineChunk(id);
              bad = `${(err as Error).message}${moved ? ' (quarantined; the next backup of this data writes it again)' : ''}`;
              quarantined += moved ? 1 : 0;
            } else bad = (err as Error).message;
          }
          verdict.set(id, bad);
          if (progress) progress.chunksDone = verdict.size;
        }
        if (bad !== null)
          problems.push({
            imageId: inc.imageId,
            incrementId: inc.incrementId,
            diskId: disk.diskId,
            chunk: id,
            message: bad,
          });
      }
    }
    completed.push(inc);
  }
  return { chunksChecked: verdict.size, problems, chunksQuarantined: quarantined, bytesRead, completed };
}
