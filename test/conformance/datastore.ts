/** The conformance suite every datastore driver passes (restic's backend test suite shape). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { DatastoreDriver } from '../../drivers/datastore/types.js';

const idOf = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function datastoreSuite(
  name: string,
  make: () => Promise<{ driver: DatastoreDriver; done: () => Promise<void> }>,
): void {
  describe(`datastore driver conformance: ${name}`, () => {
    it('stores, finds and returns chunks; a second put of the same chunk is a no-op', async () => {
      const { driver, done } = await make();
      try {
        const bytes = randomBytes(1000);
        const id = idOf(bytes);
        assert.equal(await driver.hasChunk(id), false);
        assert.equal(await driver.putChunk(id, bytes), true);
        assert.equal(await driver.putChunk(id, bytes), false);
        assert.equal(await driver.hasChunk(id), true);
        assert.deepEqual(await driver.getChunk(id), bytes);
        const listed: string[] = [];
        for await (const c of driver.listChunks()) listed.push(c);
        assert.deepEqual(listed, [id]);
        await driver.deleteChunk(id);
        assert.equal(await driver.hasChunk(id), false);
        await assert.rejects(driver.getChunk(id), (err: unknown) => driver.isNotFound(err));
      } finally {
        await done();
      }
    });

    it("tells a chunk's size and first bytes; replace writes over a chunk found bad; flush resolves", async () => {
      const { driver, done } = await make();
      try {
        const bytes = randomBytes(1000);
        const id = idOf(bytes);
        assert.equal(await driver.chunkHead(id, 6), undefined);
        assert.equal(await driver.putChunk(id, bytes.subarray(0, 3)), true);
        assert.deepEqual(await driver.chunkHead(id, 6), { size: 3, head: bytes.subarray(0, 3) });
        assert.equal(await driver.putChunk(id, bytes), false, 'not replaced unless asked');
        assert.equal(await driver.putChunk(id, bytes, { replace: true }), true);
        assert.deepEqual(await driver.chunkHead(id, 6), { size: 1000, head: bytes.subarray(0, 6) });
        await driver.flush();
        assert.deepEqual(await driver.getChunk(id), bytes);
        assert.ok(['file', 'filesystem', 'none'].includes(driver.syncLevel));
      } finally {
        await done();
      }
    });

    it('writes, lists, replaces and deletes manifests', async () => {
      const { driver, done } = await make();
      try {
        await driver.putManifest('vm/1/inc-0.json', Buffer.from('a'));
        await driver.putManifest('vm/1/inc-1.json', Buffer.from('b'));
        await driver.putManifest('vm/2/inc-0.json', Buffer.from('c'));
        await driver.putManifest('vm/1/inc-1.json', Buffer.from('B'));
        assert.deepEqual(await driver.listManifests('vm/1/'), ['vm/1/inc-0.json', 'vm/1/inc-1.json']);
        assert.equal((await driver.getManifest('vm/1/inc-1.json')).toString(), 'B');
        await driver.deleteManifest('vm/1/inc-0.json');
        await driver.deleteManifest('vm/1/inc-0.json');
        assert.deepEqual(await driver.listManifests('vm/'), ['vm/1/inc-1.json', 'vm/2/inc-0.json']);
        await assert.rejects(driver.getManifest('vm/9.json'), (err: unknown) => driver.isNotFound(err));
      } finally {
        await done();
      }
    });

    it('refuses bad IDs and paths that escape the datastore', async () => {
      const { driver, done } = await make();
      try {
        await assert.rejects(driver.putChunk('../../etc/passwd', Buffer.from('x')), /invalid chunk id/);
        await assert.rejects(driver.putManifest('../x.json', Buffer.from('x')), /invalid manifest path/);
        await assert.rejects(driver.putManifest('/abs.json', Buffer.from('x')), /invalid manifest path/);
      } finally {
        await done();
      }
    });

    it('honours an aborted signal and reports its space', async () => {
      const { driver, done } = await make();
      try {
        const ac = new AbortController();
        ac.abort();
        const bytes = randomBytes(10);
        await assert.rejects(driver.putChunk(idOf(bytes), bytes, { signal: ac.signal }));
        assert.equal(await driver.hasChunk(idOf(bytes)), false);
        const s = await driver.stat();
        assert.ok(s.capacityBytes > 0 && s.freeBytes >= 0 && s.usedBytes >= 0);
        assert.equal(await driver.cleanup(), 0);
      } finally {
        await done();
      }
    });
  });
}
