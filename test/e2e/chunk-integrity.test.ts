/**
 * Chunk integrity (issue 10, problems 3 and 4), with the real daemon and CLI: a chunk found bad
 * is quarantined and the next backup of the same data writes it again; a chunk the previous
 * backup named but that is gone is written again from the source, also without --reset; every
 * backup then verifies and restores bit for bit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupVm, restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const sha = sha256File;
const backup = (vm: number, ds: number) => backupVm(d, vm, ds);

/** The SHA-256 of disk 0 restored from the image, which must restore. */
async function restoredSha(image: string): Promise<string> {
  const r = await restoreDisk0(d, image);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.sha, r.stdout);
  return r.sha;
}

let d: RunningDaemon;
let work: string;
const cli = (name: string, args: string[]) => runCli(name, args, d);

/** The chunk files of a datastore, by ID. */
function chunkFiles(ds: number): Map<string, string> {
  const dir = join(d.stateDir, 'datastores', String(ds), 'chunks');
  const out = new Map<string, string>();
  for (const sub of existsSync(dir) ? readdirSync(dir) : [])
    for (const id of readdirSync(join(dir, sub))) if (!id.startsWith('.')) out.set(id, join(dir, sub, id));
  return out;
}

before(async () => {
  work = tempDir('onebackup-integrity-');
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

describe('chunk integrity', () => {
  for (const encrypted of [false, true]) {
    it(`a bad chunk is quarantined by verify and written again by the next backup (${encrypted ? 'encrypted' : 'plain'})`, async () => {
      const name = `q${encrypted ? 'e' : 'p'}`;
      const ds = Number(
        await rpcOk(d, 'one.datastore.allocate', `NAME="${name}"\n${encrypted ? 'ENCRYPTION="YES"\n' : ''}`),
      );
      const disk = join(work, `${name}.raw`);
      writeFileSync(disk, randomBytes(12 * MiB));
      const vm = Number(
        await rpcOk(
          d,
          'one.vm.allocate',
          `NAME="${name}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
        ),
      );
      const first = await backup(vm, ds);
      const [id, path] = [...chunkFiles(ds)][0] as [string, string];
      const bytes = readFileSync(path);
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 0x40;
      writeFileSync(path, bytes);

      const bad = await cli('onedatastore', ['verify', String(ds)]);
      assert.equal(bad.code, 255);
      assert.match(
        bad.stderr,
        new RegExp(`chunk ${id}: .*\\(quarantined; the next backup of this data writes it again\\)`),
      );
      const quarantine = join(d.stateDir, 'datastores', String(ds), 'quarantine');
      assert.ok(
        readdirSync(quarantine).some((f) => f.startsWith(`${id}.`)),
        'the bad chunk was moved aside',
      );
      assert.ok(!chunkFiles(ds).has(id), 'no backup can reuse it');

      const second = await backup(vm, ds);
      assert.ok(chunkFiles(ds).has(id), 'the next backup wrote the chunk again');
      const ok = await cli('onedatastore', ['verify', String(ds)]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^OK: /);
      assert.equal(await restoredSha(first), sha(disk), 'the older backup restores again too');
      assert.equal(await restoredSha(second), sha(disk));
    });
  }

  it('a chunk the previous backup named but that is gone is written again from the source', async () => {
    const ds = Number(await rpcOk(d, 'one.datastore.allocate', 'NAME="lost"\n'));
    const disk = join(work, 'lost.raw');
    writeFileSync(disk, randomBytes(12 * MiB));
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME="lost"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
      ),
    );
    await backup(vm, ds);
    const chunks = chunkFiles(ds);
    assert.ok(chunks.size >= 3);
    for (const [, path] of [...chunks].slice(0, 2)) rmSync(path);
    // Not --reset: the previous manifest still names the deleted chunks.
    const next = await backup(vm, ds);
    assert.deepEqual([...chunkFiles(ds).keys()].sort(), [...chunks.keys()].sort());
    const ok = await cli('onedatastore', ['verify', String(ds)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await restoredSha(next), sha(disk));
  });
});
