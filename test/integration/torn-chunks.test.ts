/**
 * Chunks a crash left short or torn (what a power cut does to chunk files written without their own
 * fsync at SYNC_LEVEL "filesystem": emptied, cut at a block boundary, a block never written) are
 * never trusted by a later backup: the real engine, local datastore and fs driver on real files.
 * A backup that produces such a chunk again writes it over (size and header differ from what it
 * would store); one that reuses the previous backup's chunk checks its size and header first; a
 * restore that reads a bad chunk quarantines it and the next backup writes it again.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChunkKeys } from '../../core/chunk-keys.js';
import { ChunkCorruptError, decodeChunk } from '../../core/engine/chunk-codec.js';
import type { Manifest } from '../../core/engine/manifest.js';
import { ChunkPool } from '../../core/engine/pool.js';
import { restoreDisk } from '../../core/engine/restore.js';
import { localDatastore } from '../../drivers/datastore/local.js';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import type { DiskSpec } from '../../drivers/hypervisor/types.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { backupFiles } from '../support/file-backups.js';

const MiB = 1024 * 1024;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('torn chunks after a crash', () => {
  let dir: string;
  let pool: ChunkPool;
  let datastore: DatastoreDriver;
  let disk: DiskSpec;
  const keys: ChunkKeys = { mac: randomBytes(32), enc: randomBytes(32) };
  const chunkFile = (id: string) => join(dir, 'ds', 'chunks', id.slice(0, 2), id);

  before(async () => {
    dir = tempDir();
    pool = new ChunkPool(2);
    const source = join(dir, 'disk.raw');
    const fd = openSync(source, 'w');
    // Half random (does not compress), half text (does): 6 chunks of data.
    writeSync(fd, randomBytes(12 * MiB), 0, 12 * MiB, 0);
    writeSync(fd, Buffer.alloc(12 * MiB, 'onebackup '), 0, 12 * MiB, 12 * MiB);
    closeSync(fd);
    disk = { diskId: 0, source, format: 'raw', virtualSize: statSync(source).size };
    datastore = await localDatastore.open({ id: 100, basePath: join(dir, 'ds') });
  });
  after(async () => {
    await datastore.close();
    await pool.close();
    cleanup(dir);
  });

  const backup = (path: string, previous?: Manifest) =>
    backupFiles({ pool, datastore, disks: [disk], scratchDir: join(dir, 'scratch'), path, previous, keys });

  const restore = async (m: Manifest, name: string): Promise<string> => {
    const target = join(dir, name);
    const d = m.disks[0];
    assert.ok(d);
    const writer = await fsDriver.createDisk(target, 'raw', d.virtualSize, {
      partial: `${target}.part`,
      resume: false,
      overwrite: false,
    });
    await restoreDisk({ manifest: m, disk: d, writer, datastore, pool, keys, keepOnFailure: false });
    return sha(target);
  };

  /** Emptied, cut at a block boundary, first block never written (zeros): what a lost page cache leaves. */
  const tear = (ids: readonly string[]) => {
    const [empty, short, zeroed] = ids as [string, string, string];
    truncateSync(chunkFile(empty), 0);
    truncateSync(chunkFile(short), Math.floor(statSync(chunkFile(short)).size / 2 / 4096) * 4096);
    const fd = openSync(chunkFile(zeroed), 'r+');
    writeSync(fd, Buffer.alloc(4096), 0, 4096, 0);
    closeSync(fd);
  };
  const whole = (id: string) => decodeChunk(id, readFileSync(chunkFile(id)), keys).length === 4 * MiB;

  it('a backup that produces a torn chunk again writes it over; every backup restores bit for bit', async () => {
    const first = await backup('7/a.json');
    const ids = first.disks[0]?.chunks.filter((c): c is string => c !== null) ?? [];
    assert.equal(ids.length, 6);
    const torn = [ids[0], ids[1], ids[4]] as string[];
    tear(torn);
    // No previous manifest: every chunk is encoded and compared with the one stored.
    const second = await backup('7/b.json');
    assert.deepEqual(second.disks, first.disks);
    const rewritten = torn.reduce((n, id) => n + statSync(chunkFile(id)).size, 0);
    assert.equal(second.stats.bytesStored, rewritten, 'exactly the torn chunks were written again');
    for (const id of ids) assert.ok(whole(id), `chunk ${id} whole`);
    assert.equal(await restore(second, 'b.raw'), sha(disk.source));
    assert.equal(await restore(first, 'a.raw'), sha(disk.source), 'the older backup is whole again too');
  });

  it('a backup reusing the previous backup’s chunks checks their size and header; a restore quarantines what the cheap check cannot see, and the next backup writes it again', async () => {
    const first = await backup('7/c.json');
    const ids = first.disks[0]?.chunks.filter((c): c is string => c !== null) ?? [];
    const [short, empty, zeroed] = [ids[2], ids[3], ids[5]] as [string, string, string];
    tear([empty, short, zeroed]); // short: a random chunk, which zstd cannot shrink below 2 MiB
    const second = await backup('7/d.json', first);
    // Emptied and zeroed headers are caught on reuse and written again.
    assert.ok(whole(empty) && whole(zeroed));
    // A compressed chunk cut short keeps a plausible header: the full read of a restore finds it.
    await assert.rejects(restore(second, 'd.raw'), ChunkCorruptError);
    assert.equal(await datastore.hasChunk(short), false, 'quarantined');
    assert.equal(readdirSync(join(dir, 'ds', 'quarantine')).filter((f) => f.startsWith(short)).length, 1);
    const third = await backup('7/e.json', second);
    assert.ok(whole(short));
    assert.equal(await restore(third, 'e.raw'), sha(disk.source));
  });
});
