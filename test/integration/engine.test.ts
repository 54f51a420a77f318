/**
 * The engine on real image files with the real local datastore and fs driver: raw and qcow2,
 * plain and encrypted, restore bit-exact (SHA-256 and qemu-img compare), dedup, corruption.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChunkKeys } from '../../core/chunk-keys.js';
import { runBackup } from '../../core/engine/backup.js';
import { ChunkCorruptError } from '../../core/engine/chunk-codec.js';
import { decodeManifest } from '../../core/engine/manifest.js';
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

/** 41 MiB + 4 KiB: random data, allocated zeros, an unaligned island, sparse holes. */
function makeRaw(path: string): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 41 * MiB + 4096);
  writeSync(fd, randomBytes(5 * MiB), 0, 5 * MiB, 0);
  writeSync(fd, Buffer.alloc(4 * MiB), 0, 4 * MiB, 8 * MiB);
  writeSync(fd, randomBytes(MiB), 0, MiB, 30 * MiB + 123 * 512);
  writeSync(fd, Buffer.from('tail'), 0, 4, 41 * MiB + 4000);
  closeSync(fd);
}

describe('engine: backup and restore', () => {
  let dir: string;
  let pool: ChunkPool;
  const keys: ChunkKeys = { mac: randomBytes(32), enc: randomBytes(32) };
  before(() => {
    dir = tempDir();
    pool = new ChunkPool(2);
    makeRaw(join(dir, 'disk.raw'));
    execFileSync('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'qcow2',
      join(dir, 'disk.raw'),
      join(dir, 'disk.qcow2'),
    ]);
  });
  after(async () => {
    await pool.close();
    cleanup(dir);
  });

  for (const format of ['raw', 'qcow2'] as const) {
    for (const encrypted of [false, true]) {
      it(`${format}, ${encrypted ? 'encrypted' : 'plain'}: restores bit for bit; a second backup stores nothing new`, async () => {
        const source = join(dir, `disk.${format}`);
        const facts = await fsDriver.inspect(source, format);
        const disk: DiskSpec = { diskId: 0, source, format, virtualSize: facts.virtualSize };
        const dsDir = join(dir, `ds-${format}-${encrypted}`);
        const datastore = await localDatastore.open({ id: 100, basePath: dsDir });
        const backup = (path: string, previous?: Awaited<ReturnType<typeof runBackup>>) =>
          backupFiles({
            pool,
            datastore,
            disks: [disk],
            scratchDir: join(dir, 'scratch'),
            path,
            previous,
            keys: encrypted ? keys : undefined,
          });
        const m1 = await backup('7/full.json');
        assert.equal(m1.disks[0]?.chunks.length, 11);
        assert.ok(m1.stats.bytesZero >= 4 * MiB + 20 * MiB, `zero bytes ${m1.stats.bytesZero}`);
        assert.ok(
          m1.stats.bytesStored > 5 * MiB && m1.stats.bytesStored < 8 * MiB,
          `stored ${m1.stats.bytesStored}`,
        );
        const m2 = await backup('7/again.json');
        assert.equal(m2.stats.bytesStored, 0);
        assert.ok(m2.stats.bytesDeduplicated > 6 * MiB);
        assert.deepEqual(m2.disks, m1.disks);
        // With the previous manifest, unchanged chunks are only hashed; the result is the same.
        const m3 = await backup('7/third.json', m1);
        assert.equal(m3.stats.bytesStored, 0);
        assert.deepEqual(m3.disks, m1.disks);

        const manifest = decodeManifest(
          await datastore.getManifest('7/full.json'),
          '7/full.json',
          encrypted ? keys : undefined,
        );
        const target = join(dir, `restored-${format}-${encrypted}.${format}`);
        await restoreDisk({
          manifest,
          disk: manifest.disks[0] as never,
          writer: await fsDriver.createDisk(target, format, manifest.disks[0]?.virtualSize ?? 0),
          datastore,
          pool,
          keys: encrypted ? keys : undefined,
          keepOnFailure: false,
        });
        execFileSync('qemu-img', ['compare', '-f', format, '-F', format, source, target]);
        if (format === 'raw') assert.equal(sha(target), sha(source));
        else {
          const a = join(dir, 'a.raw');
          const b = join(dir, 'b.raw');
          execFileSync('qemu-img', ['convert', '-O', 'raw', source, a]);
          execFileSync('qemu-img', ['convert', '-O', 'raw', target, b]);
          assert.equal(sha(b), sha(a));
        }
        assert.deepEqual(readdirSync(join(dir, 'scratch')), []);
        if (encrypted) {
          // Nothing of the plaintext is visible in the datastore.
          const chunkId = manifest.disks[0]?.chunks[0] as string;
          const stored = await datastore.getChunk(chunkId);
          const plain = readFileSync(source).subarray(0, 64);
          assert.equal(stored.includes(plain), false);
        }
      });
    }
  }

  it('a corrupt chunk fails the restore with its ID, and leaves no file behind', async () => {
    const source = join(dir, 'disk.raw');
    const disk: DiskSpec = {
      diskId: 0,
      source,
      format: 'raw',
      virtualSize: (await fsDriver.inspect(source, 'raw')).virtualSize,
    };
    const datastore = await localDatastore.open({ id: 101, basePath: join(dir, 'ds-corrupt') });
    const pit = await fsDriver.prepare(
      { id: 8, state: 'POWEROFF', disks: [disk] },
      { freeze: 'NONE', scratchDir: join(dir, 'scratch') },
    );
    const m = await runBackup({
      pit,
      hypervisor: fsDriver,
      datastore,
      pool,
      compression: 'zstd',
      compressionLevel: 1,
      keys,
      chunkIds: DEFAULT_CHUNK_ID_HASH,
      manifestPath: '8/x.json',
      parent: null,
      now: () => Date.now(),
    });
    await fsDriver.release(pit);
    const id = m.disks[0]?.chunks[0] as string;
    const path = join(dir, 'ds-corrupt', 'chunks', id.slice(0, 2), id);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    writeFileSync(path, bytes);
    const target = join(dir, 'corrupt-restore.raw');
    await assert.rejects(
      restoreDisk({
        manifest: m,
        disk: m.disks[0] as never,
        writer: await fsDriver.createDisk(target, 'raw', m.disks[0]?.virtualSize ?? 0),
        datastore,
        pool,
        keys,
        keepOnFailure: false,
      }),
      (err: unknown) =>
        err instanceof ChunkCorruptError &&
        err.message.includes(id) &&
        /GCM authentication failed/.test(err.message),
    );
    assert.equal(existsSync(target), false);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.part')),
      [],
    );
  });

  it('an aborted backup writes no manifest', async () => {
    const source = join(dir, 'disk.raw');
    const disk: DiskSpec = {
      diskId: 0,
      source,
      format: 'raw',
      virtualSize: (await fsDriver.inspect(source, 'raw')).virtualSize,
    };
    const datastore = await localDatastore.open({ id: 102, basePath: join(dir, 'ds-abort') });
    const pit = await fsDriver.prepare(
      { id: 9, state: 'POWEROFF', disks: [disk] },
      { freeze: 'NONE', scratchDir: join(dir, 'scratch') },
    );
    const ac = new AbortController();
    const run = runBackup({
      pit,
      hypervisor: fsDriver,
      datastore,
      pool,
      compression: 'zstd',
      compressionLevel: 1,
      keys: undefined,
      chunkIds: DEFAULT_CHUNK_ID_HASH,
      manifestPath: '9/x.json',
      parent: null,
      now: () => Date.now(),
      signal: ac.signal,
      onProgress: () => ac.abort(),
    });
    await assert.rejects(run, /abort/i);
    await fsDriver.release(pit);
    assert.deepEqual(await datastore.listManifests(''), []);
  });

  it('a running VM on a filesystem without reflink is refused with the reason', async () => {
    const source = join(dir, 'disk.raw');
    const disk: DiskSpec = { diskId: 0, source, format: 'raw', virtualSize: 1 };
    await assert.rejects(
      fsDriver
        .prepare(
          { id: 3, state: 'RUNNING', disks: [disk] },
          { freeze: 'NONE', scratchDir: join(dir, 'scratch') },
        )
        .then(async (pit) => {
          await fsDriver.release(pit);
          throw new Error('reflink worked here');
        }),
      /RUNNING and the filesystem .* cannot make a reflink copy|reflink worked here/,
    );
    await assert.rejects(
      fsDriver.prepare(
        { id: 3, state: 'POWEROFF', disks: [disk] },
        { freeze: 'AGENT', scratchDir: join(dir, 'scratch') },
      ),
      /FS_FREEZE=AGENT needs a hypervisor that can freeze the guest/,
    );
  });
});
