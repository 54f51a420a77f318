/**
 * The engine's copy of a backup into another datastore (core/engine/copy.ts), on real disk images
 * with the real local datastore: plain -> plain, encrypted -> encrypted with another key, plain ->
 * encrypted and encrypted -> plain. The copy restores bit for bit from the target alone (with the
 * target's key), an increment's copy writes exactly the chunks that are new, and a corrupt source
 * chunk fails the copy (moved aside) instead of reaching the target.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChunkKeys } from '../../core/chunk-keys.js';
import { type CopySide, copyIncrement, previousPair } from '../../core/engine/copy.js';
import { decodeManifest, type Manifest } from '../../core/engine/manifest.js';
import { ChunkPool } from '../../core/engine/pool.js';
import { restoreDisk } from '../../core/engine/restore.js';
import { DEFAULT_CHUNK_ID_HASH } from '../../core/model.js';
import { localDatastore } from '../../drivers/datastore/local.js';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import type { DiskSpec } from '../../drivers/hypervisor/types.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { backupFiles } from '../support/file-backups.js';

const MiB = 1024 * 1024;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Chunk files of a local datastore. */
const chunkFiles = (base: string): string[] =>
  readdirSync(join(base, 'chunks'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();

describe('engine: copy of a backup to another datastore', () => {
  let dir: string;
  let pool: ChunkPool;
  const disk = () => join(dir, 'disk.raw');
  before(() => {
    dir = tempDir('onebackup-copy-');
    pool = new ChunkPool(2);
    const fd = openSync(disk(), 'w');
    ftruncateSync(fd, 40 * MiB + 4096);
    writeSync(fd, randomBytes(12 * MiB), 0, 12 * MiB, 0);
    writeSync(fd, randomBytes(MiB), 0, MiB, 30 * MiB);
    writeSync(fd, Buffer.from('tail'), 0, 4, 40 * MiB + 4000);
    closeSync(fd);
  });
  after(async () => {
    await pool.close();
    cleanup(dir);
  });

  const backup = async (side: CopySide, path: string, previous?: Manifest): Promise<Manifest> => {
    const facts = await fsDriver.inspect(disk(), 'raw');
    const spec: DiskSpec = { diskId: 0, source: disk(), format: 'raw', virtualSize: facts.virtualSize };
    return backupFiles({
      pool,
      datastore: side.driver,
      disks: [spec],
      scratchDir: join(dir, 'scratch'),
      path,
      previous,
      keys: side.keys,
      compression: side.compression,
      compressionLevel: side.level,
    });
  };

  const restoreFrom = async (side: CopySide, path: string, to: string): Promise<string> => {
    const m = decodeManifest(await side.driver.getManifest(path), path, side.keys);
    const d = m.disks[0] as Manifest['disks'][number];
    await restoreDisk({
      manifest: m,
      disk: d,
      writer: await fsDriver.createDisk(to, 'raw', d.virtualSize),
      datastore: side.driver,
      pool,
      keys: side.keys,
      keepOnFailure: false,
    });
    return sha(to);
  };

  const side = async (name: string, id: number, keys: ChunkKeys | undefined): Promise<CopySide> => ({
    id,
    driver: await localDatastore.open({ id, basePath: join(dir, name) }),
    keys,
    compression: 'zstd',
    level: 1,
    chunkIds: DEFAULT_CHUNK_ID_HASH,
  });

  const cases: [string, boolean, boolean][] = [
    ['plain -> plain', false, false],
    ['encrypted -> encrypted (another key)', true, true],
    ['plain -> encrypted', false, true],
    ['encrypted -> plain', true, false],
  ];
  for (const [label, fromEncrypted, toEncrypted] of cases) {
    it(`${label}: restores bit for bit from the target alone; an increment copies only its new chunks`, async () => {
      const tag = `${fromEncrypted}-${toEncrypted}`;
      const keyOf = () => ({ mac: randomBytes(32), enc: randomBytes(32) });
      const source = await side(`src-${tag}`, 100, fromEncrypted ? keyOf() : undefined);
      const target = await side(`dst-${tag}`, 101, toEncrypted ? keyOf() : undefined);
      const original = sha(disk());
      const m1 = await backup(source, '7/a.json');
      const c1 = await copyIncrement({ source, target, manifestPath: '7/a.json', pool, now: Date.now });
      const stored = chunkFiles(join(dir, `src-${tag}`)).length;
      assert.equal(c1.chunks, stored);
      assert.equal(c1.chunksWritten, stored);
      assert.equal(chunkFiles(join(dir, `dst-${tag}`)).length, stored);
      assert.equal(c1.reencoded, fromEncrypted || toEncrypted);
      // Encrypted chunk IDs are keyed per datastore: none is shared unless both are plain.
      const shared = chunkFiles(join(dir, `src-${tag}`)).filter((c) =>
        chunkFiles(join(dir, `dst-${tag}`)).includes(c),
      );
      assert.equal(shared.length, fromEncrypted || toEncrypted ? 0 : stored);
      assert.equal(await restoreFrom(target, '7/a.json', join(dir, `r1-${tag}.raw`)), original);

      // Two chunks change: the increment's copy writes exactly the two new chunks.
      const fd = openSync(disk(), 'r+');
      writeSync(fd, randomBytes(MiB), 0, MiB, 2 * MiB);
      writeSync(fd, randomBytes(MiB), 0, MiB, 30 * MiB);
      closeSync(fd);
      const changed = sha(disk());
      const before = chunkFiles(join(dir, `src-${tag}`));
      await backup(source, '7/b.json', m1);
      const previous = await previousPair(source, target, '7/a.json');
      assert.ok(previous);
      const c2 = await copyIncrement({
        source,
        target,
        manifestPath: '7/b.json',
        previous,
        pool,
        now: Date.now,
      });
      assert.equal(chunkFiles(join(dir, `src-${tag}`)).length, stored + 2);
      assert.equal(c2.chunksWritten, 2);
      // Only the two new chunks were read from the source (the rest mapped through the previous copy).
      const newChunks = chunkFiles(join(dir, `src-${tag}`)).filter((c) => !before.includes(c));
      assert.equal(newChunks.length, 2);
      const size = (c: string) => statSync(join(dir, `src-${tag}`, 'chunks', c.slice(0, 2), c)).size;
      assert.equal(
        c2.bytesRead,
        newChunks.reduce((n, c) => n + size(c), 0),
      );
      assert.equal(chunkFiles(join(dir, `dst-${tag}`)).length, stored + 2);
      assert.equal(await restoreFrom(target, '7/b.json', join(dir, `r2-${tag}.raw`)), changed);
      // The first copy still restores what the first backup read.
      assert.equal(await restoreFrom(target, '7/a.json', join(dir, `r3-${tag}.raw`)), original);
    });
  }

  it('a corrupt source chunk fails the copy, is moved aside, and never reaches the target', async () => {
    const source = await side('src-bad', 100, undefined);
    const target = await side('dst-bad', 101, undefined);
    await backup(source, '7/a.json');
    const [first] = chunkFiles(join(dir, 'src-bad'));
    assert.ok(first);
    const path = join(dir, 'src-bad', 'chunks', first.slice(0, 2), first);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    writeFileSync(path, bytes);
    await assert.rejects(
      copyIncrement({ source, target, manifestPath: '7/a.json', pool, now: Date.now }),
      (err: Error) => err.message.includes(first) && err.message.includes('datastore 100'),
    );
    assert.ok(!chunkFiles(join(dir, 'dst-bad')).includes(first));
    assert.deepEqual(await target.driver.listManifests(''), []);
    assert.equal(readdirSync(join(dir, 'src-bad', 'quarantine')).length, 1);
  });
});
