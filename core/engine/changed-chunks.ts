/**
 * Changed-block tracking in the engine: which chunks of a disk an increment must read, given the
 * changed extents the hypervisor reports since the previous backup's checkpoint; the others are
 * the previous backup's chunks (checked present and whole, by size and header, in the datastore:
 * a chunk that is gone or torn is read again, since the source is right there). And the `capture` a manifest records.
 */
import type { DiskSpec, Extent, PointInTime } from '../../drivers/hypervisor/types.js';
import { CHUNK_SIZE, type Manifest, type ManifestCapture, type ManifestDisk } from './manifest.js';

export interface ChangedChunks {
  readonly diskId: number;
  /** Chunk index -> the previous backup's chunk ID (null: zeros), for chunks nothing changed. */
  readonly unchanged: ReadonlyMap<number, string | null>;
  /** Changes were asked for but the disk is read whole: why. */
  readonly fullReadReason?: string;
  /** Bytes of the changed extents. */
  readonly changedBytes: number;
}

/** Indexes of the chunks that intersect an extent. */
export function chunksTouched(extents: readonly Extent[]): Set<number> {
  const set = new Set<number>();
  for (const e of extents) {
    const first = Math.floor(e.offset / CHUNK_SIZE);
    const last = Math.floor((e.offset + e.length - 1) / CHUNK_SIZE);
    for (let i = first; i <= last; i++) set.add(i);
  }
  return set;
}

/** Which chunks an increment may take from the previous backup, and the checks that decide it. */
export interface ChangedChunksPlan {
  /**
   * Chunks no changed block touches, sorted: taken from the previous backup if the datastore
   * still has them whole. Known at once, so the changed chunks can be read while they are checked.
   */
  readonly candidates: readonly number[];
  /** The candidates' checks (started at once) and what they found. */
  readonly checked: Promise<ChangedChunks>;
}

/**
 * The chunks of `disk` an increment may take from `previous` (the same disk in the backup whose
 * checkpoint the changes are counted from; undefined when it does not match this disk).
 */
export function changedChunks(
  pit: PointInTime,
  disk: DiskSpec,
  previous: ManifestDisk | undefined,
  /** Whether the stored chunk `id` of `length` plain bytes looks whole (size and header). */
  reusable: (id: string, length: number) => Promise<boolean>,
  /** An increment with changed-block tracking: a disk read whole gets a reason. */
  wanted: boolean,
): ChangedChunksPlan {
  const diskId = disk.diskId;
  const changes = pit.changes?.get(diskId);
  const none = { diskId, unchanged: new Map<number, string | null>(), changedBytes: 0 };
  const readWhole = (result: ChangedChunks): ChangedChunksPlan => ({
    candidates: [],
    checked: Promise.resolve(result),
  });
  if (!wanted) return readWhole(none);
  if (!changes)
    return readWhole({
      ...none,
      fullReadReason:
        'the previous backup started no checkpoint to count changes from (its disks could not keep one, or its hypervisor driver tracks no changes)',
    });
  if (changes.kind === 'full') return readWhole({ ...none, fullReadReason: changes.reason });
  if (!previous)
    return readWhole({
      ...none,
      fullReadReason: `disk ${diskId} does not match the previous backup (resized, new, or the encryption changed)`,
    });
  const dirty = chunksTouched(changes.extents);
  const candidates: number[] = [];
  for (let i = 0; i < previous.chunks.length; i++) if (!dirty.has(i)) candidates.push(i);
  const check = async (): Promise<ChangedChunks> => {
    const unchanged = new Map<number, string | null>();
    for (let at = 0; at < candidates.length; at += 64) {
      await Promise.all(
        candidates.slice(at, at + 64).map(async (i) => {
          const id = previous.chunks[i] ?? null;
          const length = Math.min(CHUNK_SIZE, disk.virtualSize - i * CHUNK_SIZE);
          if (id === null || (await reusable(id, length))) unchanged.set(i, id);
        }),
      );
    }
    return { diskId, unchanged, changedBytes: changes.extents.reduce((s, e) => s + e.length, 0) };
  };
  return { candidates, checked: check() };
}

/** The manifest's `capture`, when the driver said how it took the instant. */
export function captureOf(
  hypervisor: string,
  pit: PointInTime,
  changes: readonly ChangedChunks[],
  since: string | undefined,
): { capture?: ManifestCapture } {
  const c = pit.consistency;
  if (!c) return {};
  const fullRead = Object.fromEntries(
    changes
      .filter((x) => x.fullReadReason !== undefined)
      .map((x) => [String(x.diskId), x.fullReadReason as string]),
  );
  const tracked = changes.some((x) => x.fullReadReason === undefined && pit.changes?.has(x.diskId));
  return {
    capture: {
      hypervisor,
      consistency: c.level,
      frozenMs: c.frozenMs,
      ...(pit.checkpoint ? { checkpoint: pit.checkpoint } : {}),
      ...(since !== undefined && tracked ? { since } : {}),
      ...(Object.keys(fullRead).length > 0 ? { fullRead } : {}),
      ...(tracked ? { changedBytes: changes.reduce((s, x) => s + x.changedBytes, 0) } : {}),
      ...(c.warnings.length > 0 ? { warnings: c.warnings } : {}),
    },
  };
}

/** The checkpoint the next increment may read changes since, if the manifest started one. */
export function checkpointOf(manifest: Manifest | undefined): string | undefined {
  return manifest?.capture?.checkpoint;
}
