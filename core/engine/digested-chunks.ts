/**
 * Unchanged chunks of a disk on another host, found without moving them: the host's agent hashes
 * each chunk where the disk is (HypervisorDriver.chunkDigests) and a chunk whose SHA-256 is the
 * previous backup's chunk ID at that index (an unencrypted datastore names chunks so) is taken
 * from the previous backup, once it is checked present and whole like a CBT increment's. Zeros
 * are zeros. Used when changed-block tracking gave nothing (an `fs` disk, a CBT fallback), so an
 * increment over SSH moves about the changed chunks, not the whole disk. Encrypted datastores
 * name chunks with a keyed MAC that hosts never get: their disks are read whole.
 */
import type { DiskSpec, HypervisorDriver, PointInTime } from '../../drivers/hypervisor/types.js';
import { CHUNK_SIZE, type ManifestDisk } from './manifest.js';

/** Chunks asked about per call: a call's answer comes after at most this many chunk reads there. */
const BATCH = 64;

export async function digestedChunks(
  hypervisor: HypervisorDriver,
  pit: PointInTime,
  disk: DiskSpec,
  previous: ManifestDisk | undefined,
  /** Chunks that hold data (the others are zeros without asking). */
  withData: ReadonlySet<number>,
  reusable: (id: string, length: number) => Promise<boolean>,
  signal: AbortSignal | undefined,
): Promise<Map<number, string | null>> {
  const unchanged = new Map<number, string | null>();
  if (!hypervisor.chunkDigests || !previous) return unchanged;
  const candidates = [...withData].sort((a, b) => a - b);
  for (let at = 0; at < candidates.length; at += BATCH) {
    signal?.throwIfAborted();
    const batch = candidates.slice(at, at + BATCH);
    const digests = await hypervisor.chunkDigests(pit, disk.diskId, CHUNK_SIZE, batch);
    await Promise.all(
      batch.map(async (i, k) => {
        const digest = digests[k];
        const length = Math.min(CHUNK_SIZE, disk.virtualSize - i * CHUNK_SIZE);
        if (digest === null) unchanged.set(i, null);
        else if (digest !== undefined && digest === previous.chunks[i] && (await reusable(digest, length)))
          unchanged.set(i, digest);
      }),
    );
  }
  return unchanged;
}
