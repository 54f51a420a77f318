/**
 * One backup of disk files through the engine alone (no daemon): the `fs` driver's point in time,
 * runBackup into a datastore driver, the point in time released. For engine-level tests and
 * benches that check what the engine wrote.
 */
import type { ChunkKeys } from '../../core/chunk-keys.js';
import { runBackup } from '../../core/engine/backup.js';
import type { Manifest } from '../../core/engine/manifest.js';
import type { ChunkPool } from '../../core/engine/pool.js';
import { type ChunkIdHash, type Compression, DEFAULT_CHUNK_ID_HASH } from '../../core/model.js';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import type { DiskSpec, HypervisorDriver } from '../../drivers/hypervisor/types.js';

export interface FileBackup {
  readonly pool: ChunkPool;
  readonly datastore: DatastoreDriver;
  readonly disks: readonly DiskSpec[];
  readonly scratchDir: string;
  /** The manifest's path in the datastore. */
  readonly path: string;
  readonly previous?: Manifest | undefined;
  readonly keys?: ChunkKeys | undefined;
  readonly compression?: Compression;
  readonly compressionLevel?: number;
  /** How the datastore names chunks (default: a new datastore's). */
  readonly chunkIds?: ChunkIdHash;
  readonly vmId?: number;
  /** The hypervisor driver that reads the disks (default: the local `fs` driver). */
  readonly hypervisor?: HypervisorDriver;
}

export async function backupFiles(b: FileBackup): Promise<Manifest> {
  const hypervisor = b.hypervisor ?? fsDriver;
  const pit = await hypervisor.prepare(
    { id: b.vmId ?? 7, state: 'POWEROFF', disks: [...b.disks] },
    { freeze: 'NONE', scratchDir: b.scratchDir },
  );
  try {
    return await runBackup({
      pit,
      hypervisor,
      datastore: b.datastore,
      pool: b.pool,
      compression: b.compression ?? 'zstd',
      compressionLevel: b.compressionLevel ?? 1,
      keys: b.keys,
      chunkIds: b.chunkIds ?? DEFAULT_CHUNK_ID_HASH,
      manifestPath: b.path,
      parent: null,
      previous: b.previous,
      now: () => Date.now(),
    });
  } finally {
    await hypervisor.release(pit);
  }
}
