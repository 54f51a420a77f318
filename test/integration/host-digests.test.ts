/**
 * Host digests: increments of disks on a host reached over SSH into an ENCRYPTED datastore move
 * only the changed chunks, without the datastore key on the host. The engine alone (no daemon)
 * with the real fs driver run by the real agent through a real sshd (test/support/sshd.ts), the
 * real local datastore and restore. What the manifest records is checked against the chunks'
 * bytes: HMAC under the disk's host digest key, never their plain SHA-256; an older manifest
 * without host digests, another VM's, a local host and an unencrypted datastore behave as before.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChunkKeys } from '../../core/chunk-keys.js';
import { hostDigestKey } from '../../core/engine/host-digest-keys.js';
import { CHUNK_SIZE, decodeManifest, encodeManifest, type Manifest } from '../../core/engine/manifest.js';
import { ChunkPool } from '../../core/engine/pool.js';
import { restoreDisk } from '../../core/engine/restore.js';
import type { ChunkIdHash } from '../../core/model.js';
import { localDatastore } from '../../drivers/datastore/local.js';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import type { DiskSpec, HypervisorDriver, HypervisorHosts } from '../../drivers/hypervisor/types.js';
import { hypervisorHosts } from '../../drivers/remote/host-drivers.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { backupFiles } from '../support/file-backups.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const keysOf = (): ChunkKeys => ({ mac: randomBytes(32), enc: randomBytes(32) });

describe('host digest keys', () => {
  it('differ per datastore key, VM and disk, and are neither the datastore key nor each other', () => {
    const a = keysOf();
    const b = keysOf();
    const k = hostDigestKey(a, 7, 0);
    assert.equal(k.length, 32);
    assert.ok(k.equals(hostDigestKey(a, 7, 0)), 'the same inputs give the same key');
    // The same MAC key in another ChunkKeys object (a key loaded again) gives the same key.
    assert.ok(k.equals(hostDigestKey({ mac: Buffer.from(a.mac), enc: a.enc }, 7, 0)));
    const others = [hostDigestKey(b, 7, 0), hostDigestKey(a, 8, 0), hostDigestKey(a, 7, 1)];
    const all = [k, ...others, Buffer.from(a.mac), Buffer.from(a.enc)].map((x) => x.toString('hex'));
    assert.equal(new Set(all).size, all.length, 'every key differs from the others and the datastore key');
    // VM 1 disk 11 and VM 11 disk 1 do not collide.
    assert.ok(!hostDigestKey(a, 1, 11).equals(hostDigestKey(a, 11, 1)));
  });
});

describe('increments over SSH into an encrypted datastore', () => {
  let dir: string;
  let sshd: TestSshd;
  let hosts: HypervisorHosts;
  let remote: HypervisorDriver;
  let pool: ChunkPool;
  const keys = keysOf();
  let source: string;
  let disk: DiskSpec;
  let datastore: DatastoreDriver;
  let scratch: string;
  let n = 0;
  const received = () => hosts.traffic().find((t) => t.host === sshd.host)?.received ?? 0;

  /** A backup of `disk` through `hypervisor`; returns its manifest and the bytes the host sent. */
  async function backup(
    options: {
      previous?: Manifest | undefined;
      hypervisor?: HypervisorDriver;
      keys?: ChunkKeys | undefined;
      datastore?: DatastoreDriver;
      vmId?: number;
      chunkIds?: ChunkIdHash;
    } = {},
  ): Promise<{ manifest: Manifest; crossed: number }> {
    const before = received();
    const manifest = await backupFiles({
      pool,
      datastore: options.datastore ?? datastore,
      disks: [disk],
      scratchDir: scratch,
      path: `7/${++n}.json`,
      previous: options.previous,
      keys: 'keys' in options ? options.keys : keys,
      hypervisor: options.hypervisor ?? remote,
      ...(options.vmId !== undefined ? { vmId: options.vmId } : {}),
      ...(options.chunkIds !== undefined ? { chunkIds: options.chunkIds } : {}),
    });
    return { manifest, crossed: received() - before };
  }

  /** Restores the manifest's disk and checks it is the source file as it is now. */
  async function restoresBitExact(
    m: Manifest,
    from: { datastore: DatastoreDriver; keys: ChunkKeys | undefined } = { datastore, keys },
  ): Promise<void> {
    const target = join(dir, `restored-${++n}.raw`);
    await restoreDisk({
      manifest: m,
      disk: m.disks[0] as never,
      writer: await fsDriver.createDisk(target, 'raw', disk.virtualSize),
      datastore: from.datastore,
      pool,
      keys: from.keys,
      keepOnFailure: false,
    });
    assert.equal(sha(readFileSync(target)), sha(readFileSync(source)), 'restored bit for bit');
  }

  /** Overwrites chunk `i` of the source with random bytes. */
  function change(i: number): void {
    const fd = openSync(source, 'r+');
    writeSync(fd, randomBytes(CHUNK_SIZE), 0, CHUNK_SIZE, i * CHUNK_SIZE);
    closeSync(fd);
  }

  const chunkBytes = (i: number) =>
    readFileSync(source).subarray(i * CHUNK_SIZE, Math.min((i + 1) * CHUNK_SIZE, disk.virtualSize));

  before(async () => {
    dir = tempDir('onebackup-host-digests-');
    mkdirSync(join(dir, 'host'));
    sshd = await startSshd(join(dir, 'host'), '127.0.0.7');
    hosts = hypervisorHosts(new Map([['fs', fsDriver]]));
    const access = {
      name: sshd.host,
      attributes: {
        SSH_USER: sshd.user,
        SSH_PORT: String(sshd.port),
        SSH_KEY: sshd.clientKey,
        SSH_KNOWN_HOSTS: sshd.knownHosts,
      },
    };
    remote = hosts.driver('fs', access) as HypervisorDriver;
    pool = new ChunkPool(2);
    scratch = join(dir, 'scratch');
    mkdirSync(scratch);
    // 6 chunks of data, a chunk of zeros between (index 3), and a short last chunk.
    source = join(dir, 'host', 'disk.raw');
    const bytes = randomBytes(6 * CHUNK_SIZE + MiB);
    bytes.fill(0, 3 * CHUNK_SIZE, 4 * CHUNK_SIZE);
    writeFileSync(source, bytes);
    disk = { diskId: 0, source, format: 'raw', virtualSize: bytes.length };
    datastore = await localDatastore.open({ id: 100, basePath: join(dir, 'ds') });
  });

  after(async () => {
    await hosts?.close();
    await pool?.close();
    await sshd?.stop();
    cleanup(dir);
  });

  it('a full records each chunk as HMAC under the disk host digest key (never its SHA-256, never its ID); an increment moves only the changed chunk', async () => {
    const { manifest: full } = await backup();
    const d = full.disks[0];
    assert.ok(d?.hostDigests, 'a full from an SSH host into an encrypted datastore records host digests');
    assert.equal(d.hostDigests.length, d.chunks.length);
    const key = hostDigestKey(keys, 7, 0);
    for (const [i, recorded] of d.hostDigests.entries()) {
      const bytes = chunkBytes(i);
      if (i === 3) {
        assert.equal(recorded, null, 'zeros are null');
        continue;
      }
      assert.equal(recorded, createHmac('sha256', key).update(bytes).digest('hex'));
      assert.notEqual(recorded, sha(bytes), 'never the plain SHA-256 of the chunk');
      assert.notEqual(recorded, d.chunks[i], 'not the chunk ID either');
    }
    // No plain SHA-256 of any chunk anywhere in the stored manifest.
    const text = (await datastore.getManifest('7/1.json')).toString('utf8');
    for (let i = 0; i < d.chunks.length; i++) assert.ok(!text.includes(sha(chunkBytes(i))));
    await restoresBitExact(full);

    change(4);
    const { manifest: inc, crossed } = await backup({ previous: full });
    assert.equal(inc.stats.bytesRead, CHUNK_SIZE, 'only the changed chunk read');
    assert.ok(crossed < CHUNK_SIZE + MiB, `${crossed} bytes crossed for one 4 MiB chunk changed`);
    assert.equal(inc.disks[0]?.chunks[0], d.chunks[0], 'an unchanged chunk keeps its ID');
    assert.notEqual(inc.disks[0]?.chunks[4], d.chunks[4]);
    assert.ok(inc.disks[0]?.hostDigests, 'the increment records them too');
    await restoresBitExact(inc);

    // Nothing changed: nothing read, and the short last chunk compares too.
    const { manifest: same } = await backup({ previous: inc });
    assert.equal(same.stats.bytesRead, 0);
    assert.deepEqual(same.disks[0]?.chunks, inc.disks[0]?.chunks);
    await restoresBitExact(same);
  });

  it('host digests are covered by the manifest MAC', async () => {
    const { manifest } = await backup();
    const bytes = encodeManifest(manifest, keys);
    assert.ok(decodeManifest(bytes, 'm', keys).disks[0]?.hostDigests);
    const forged = JSON.parse(bytes.toString('utf8')) as { disks: { hostDigests: string[] }[] };
    (forged.disks[0] as { hostDigests: string[] }).hostDigests[0] = 'a'.repeat(64);
    assert.throws(
      () => decodeManifest(Buffer.from(JSON.stringify(forged)), 'm', keys),
      /MAC does not verify/,
    );
  });

  it('an older manifest without host digests still reads, and the next increment reads the disk whole (right result)', async () => {
    const { manifest: current } = await backup();
    const { hostDigests: _dropped, ...older } = current.disks[0] as NonNullable<Manifest['disks'][0]>;
    const oldBytes = encodeManifest({ ...current, disks: [older] }, keys);
    const old = decodeManifest(oldBytes, 'old', keys);
    assert.equal(old.disks[0]?.hostDigests, undefined);
    change(1);
    const { manifest: inc, crossed } = await backup({ previous: old });
    assert.equal(inc.stats.bytesRead, 6 * CHUNK_SIZE + MiB, 'every chunk read (the host was not asked)');
    assert.ok(crossed > 6 * CHUNK_SIZE, 'the disk crossed whole');
    assert.ok(inc.disks[0]?.hostDigests, 'and it records them for the next one');
    await restoresBitExact(inc);
    const { manifest: next } = await backup({ previous: inc });
    assert.equal(next.stats.bytesRead, 0, 'the one after is cheap again');
  });

  it("another VM's previous manifest (another host digest key) is read whole", async () => {
    const { manifest: vm7 } = await backup();
    const { manifest: vm8 } = await backup({ previous: vm7, vmId: 8 });
    // Every chunk with data read; only the zeros, which the host found, stayed there.
    assert.equal(vm8.stats.bytesRead, 5 * CHUNK_SIZE + MiB);
    assert.notDeepEqual(vm8.disks[0]?.hostDigests, vm7.disks[0]?.hostDigests);
  });

  it('a local host records no host digests and reads whole, as before; an unencrypted SHA-256 datastore keeps comparing chunk IDs', async () => {
    const { manifest: local } = await backup({ hypervisor: fsDriver });
    assert.equal(local.disks[0]?.hostDigests, undefined);
    const { manifest: again } = await backup({ hypervisor: fsDriver, previous: local });
    assert.equal(again.stats.bytesRead, 6 * CHUNK_SIZE + MiB);

    const plain = await localDatastore.open({ id: 101, basePath: join(dir, 'plain') });
    const { manifest: full } = await backup({ keys: undefined, datastore: plain, chunkIds: 'sha256' });
    assert.equal(full.disks[0]?.hostDigests, undefined, 'SHA-256 chunk IDs serve as host digests');
    change(5);
    const { manifest: inc } = await backup({
      keys: undefined,
      datastore: plain,
      previous: full,
      chunkIds: 'sha256',
    });
    assert.equal(inc.stats.bytesRead, CHUNK_SIZE);
    await restoresBitExact(inc, { datastore: plain, keys: undefined });
  });

  it('an unencrypted BLAKE3 datastore records plain SHA-256 host digests (hosts have no BLAKE3); an increment moves only the changed chunk', async () => {
    const plain = await localDatastore.open({ id: 102, basePath: join(dir, 'plain-blake3') });
    const { manifest: full } = await backup({ keys: undefined, datastore: plain, chunkIds: 'blake3' });
    const expected = Array.from({ length: 7 }, (_, i) => (i === 3 ? null : sha(chunkBytes(i))));
    assert.deepEqual(full.disks[0]?.hostDigests, expected);
    assert.ok(
      full.disks[0]?.chunks.every((id, i) => id === null || id !== expected[i]),
      'IDs are not SHA-256',
    );
    change(2);
    const { manifest: inc, crossed } = await backup({
      keys: undefined,
      datastore: plain,
      previous: full,
      chunkIds: 'blake3',
    });
    assert.equal(inc.stats.bytesRead, CHUNK_SIZE);
    assert.ok(crossed < 2 * CHUNK_SIZE, `${crossed} bytes crossed for one changed chunk`);
    assert.equal(inc.disks[0]?.hostDigests?.[2], sha(chunkBytes(2)));
    await restoresBitExact(inc, { datastore: plain, keys: undefined });
  });
});
