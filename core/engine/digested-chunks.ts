/**
 * Unchanged chunks of a disk on another host, found without moving them: the host's agent hashes
 * each chunk where the disk is (HypervisorDriver.chunkDigests) and a chunk whose digest is the
 * previous backup's at that index is taken from the previous backup, once it is checked present
 * and whole like a CBT increment's. Zeros are zeros. Used when changed-block tracking gave nothing
 * (an `fs` disk, a CBT fallback), so an increment over SSH moves about the changed chunks, not the
 * whole disk.
 * The previous backup's digest is its chunk ID on an unencrypted SHA-256 datastore (the agent's
 * plain SHA-256 is the ID). An encrypted datastore names chunks with a keyed MAC that hosts never
 * get, and a BLAKE3 one with a hash hosts do not have: there the agent's answers (keyed with the
 * disk's host digest key, host-digest-keys.ts, when encrypted; plain SHA-256 otherwise) are
 * compared with the host digests the previous manifest recorded; a previous manifest without
 * them (older, or from a local host) means the disk is read whole.
 */
import type { DiskSpec, HypervisorDriver, PointInTime } from '../../drivers/hypervisor/types.js';
import type { HostDigestKind } from '../host-digest.js';
import { CHUNK_SIZE, type ManifestDisk } from './manifest.js';

/** Chunks asked about per call: a call's answer comes after at most this many chunk reads there. */
const BATCH = 64;

/** What the previous backup's chunk at each index hashes to on the host, or undefined: do not ask. */
export function previousDigests(
  previous: ManifestDisk | undefined,
  /** The host digests compared, or undefined: the agent's digests are chunk IDs. */
  host: HostDigestKind | undefined,
): readonly (string | null)[] | undefined {
  if (!previous) return undefined;
  if (!host) return previous.chunks;
  const recorded = previous.hostDigests;
  return Array.isArray(recorded) && recorded.length === previous.chunks.length ? recorded : undefined;
}

export async function digestedChunks(
  hypervisor: HypervisorDriver,
  pit: PointInTime,
  disk: DiskSpec,
  previous: ManifestDisk | undefined,
  /** The host digests compared (keyed or not), or undefined: the agent's digests are chunk IDs. */
  host: HostDigestKind | undefined,
  /** Chunks that hold data (the others are zeros without asking). */
  withData: ReadonlySet<number>,
  reusable: (id: string, length: number) => Promise<boolean>,
  signal: AbortSignal | undefined,
): Promise<Map<number, string | null>> {
  const unchanged = new Map<number, string | null>();
  const before = previousDigests(previous, host);
  if (!hypervisor.chunkDigests || !previous || !before) return unchanged;
  const candidates = [...withData].sort((a, b) => a - b);
  for (let at = 0; at < candidates.length; at += BATCH) {
    signal?.throwIfAborted();
    const batch = candidates.slice(at, at + BATCH);
    const digests = await hypervisor.chunkDigests(pit, disk.diskId, CHUNK_SIZE, batch, host?.key);
    await Promise.all(
      batch.map(async (i, k) => {
        const digest = digests[k];
        const id = previous.chunks[i];
        const length = Math.min(CHUNK_SIZE, disk.virtualSize - i * CHUNK_SIZE);
        if (digest === null) unchanged.set(i, null);
        else if (
          typeof digest === 'string' &&
          typeof id === 'string' &&
          digest === before[i] &&
          (await reusable(id, length))
        )
          unchanged.set(i, id);
      }),
    );
  }
  return unchanged;
}
