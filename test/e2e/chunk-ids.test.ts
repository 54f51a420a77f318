/**
 * Chunk IDs through the real daemon and CLIs: a new datastore names its chunks with keyed BLAKE3
 * and says so in its identity; a datastore an older onebackup made (identity version 1, no
 * chunkIds) keeps HMAC-SHA-256, so its chunks go on deduplicating; both restore bit for bit.
 * The IDs are recomputed here from the disk's bytes and the datastore's key file.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, it } from 'node:test';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { backupVm, restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { chunkFiles } from '../support/datastore-faults.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
let d: RunningDaemon;
let work: string;
let vm: number;
let disk: string;

const base = (ds: number) => join(d.stateDir, 'datastores', String(ds));
const identityPath = (ds: number) => join(base(ds), 'onebackup-datastore.json');
const macKey = (ds: number) =>
  Buffer.from(
    readFileSync(join(d.stateDir, 'keys', `datastore-${ds}.key`), 'utf8')
      .trim()
      .slice(0, 64),
    'hex',
  );
/** The 4 MiB chunks of the disk (it has no zero chunk). */
const plainChunks = () => {
  const bytes = readFileSync(disk);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 4 * MiB) out.push(bytes.subarray(at, at + 4 * MiB));
  return out;
};
/** Chunk file name -> its header's version byte. */
const versions = (ds: number) =>
  new Map(chunkFiles(base(ds)).map((f) => [basename(f), readFileSync(f)[0] as number]));

before(async () => {
  work = tempDir('onebackup-chunk-ids-');
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="new"\nENCRYPTION="YES"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="legacy"\nENCRYPTION="YES"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="legacy-plain"\n');
  disk = join(work, 'disk.raw');
  writeFileSync(disk, randomBytes(10 * MiB));
  vm = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="ids"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    ),
  );
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

it('a new datastore names its chunks with keyed BLAKE3 and says so in its identity', async () => {
  const identity = JSON.parse(readFileSync(identityPath(100), 'utf8'));
  assert.equal(identity.version, 2);
  assert.equal(identity.chunkIds, 'blake3');
  const image = await backupVm(d, vm, 100);
  const key = macKey(100);
  const expected = plainChunks().map((c) => Blake3Hasher.newKeyed(key).update(c).digest('hex'));
  const found = versions(100);
  assert.deepEqual([...found.keys()].sort(), [...new Set(expected)].sort());
  assert.ok(
    [...found.values()].every((v) => v === 2),
    'every chunk header says BLAKE3 (version 2)',
  );
  assert.equal((await restoreDisk0(d, image)).sha, sha256File(disk));
});

it('a datastore made before BLAKE3 keeps HMAC-SHA-256 IDs, deduplicates against them and restores', async () => {
  // As an older onebackup left it: identity version 1, no chunkIds.
  const old = JSON.parse(readFileSync(identityPath(101), 'utf8'));
  const { chunkIds: _none, ...v1 } = { ...old, version: 1 };
  writeFileSync(identityPath(101), `${JSON.stringify(v1)}\n`);
  const first = await backupVm(d, vm, 101);
  const key = macKey(101);
  const expected = plainChunks().map((c) => createHmac('sha256', key).update(c).digest('hex'));
  const found = versions(101);
  assert.deepEqual([...found.keys()].sort(), [...new Set(expected)].sort());
  assert.ok(
    [...found.values()].every((v) => v === 1),
    'every chunk header says SHA-256 (version 1)',
  );
  // A second backup of the unchanged disk stores no new chunk.
  const second = await backupVm(d, vm, 101);
  assert.deepEqual([...versions(101).keys()].sort(), [...found.keys()].sort());
  for (const image of [first, second]) assert.equal((await restoreDisk0(d, image)).sha, sha256File(disk));
  assert.deepEqual(JSON.parse(readFileSync(identityPath(101), 'utf8')), v1, 'the identity is left as it was');
});

it('onedatastore import keeps the chunk IDs the storage has: an older datastore stays SHA-256 in a new server', async () => {
  // As an older onebackup left it: identity version 1, no chunkIds.
  const { chunkIds: _none, ...v1 } = { ...JSON.parse(readFileSync(identityPath(102), 'utf8')), version: 1 };
  writeFileSync(identityPath(102), `${JSON.stringify(v1)}\n`);
  await backupVm(d, vm, 102);
  const before = versions(102);
  assert.ok(before.size > 0 && [...before.values()].every((v) => v === 1));
  const second = await startDaemon();
  try {
    await rpcOk(second, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
    const file = join(work, 'import.tmpl');
    writeFileSync(file, `NAME="adopted"\nBASE_PATH="${base(102)}"\n`);
    const imported = await runCli('onedatastore', ['import', file], second);
    assert.equal(imported.code, 0, imported.stderr);
    const id = Number(/^ID: (\d+)/.exec(imported.stdout)?.[1]);
    const identity = JSON.parse(readFileSync(identityPath(102), 'utf8'));
    assert.equal(identity.version, 1);
    assert.equal(identity.chunkIds, undefined);
    assert.equal(identity.datastoreId, id);
    const again = Number(
      await rpcOk(
        second,
        'one.vm.allocate',
        `NAME="ids"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
      ),
    );
    const image = await backupVm(second, again, id);
    assert.deepEqual(versions(102), before, 'the same disk in the new server stores no new chunk');
    assert.equal((await restoreDisk0(second, image)).sha, sha256File(disk));
  } finally {
    await second.stop();
    cleanup(second.stateDir);
  }
});
