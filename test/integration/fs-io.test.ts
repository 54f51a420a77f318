/**
 * The fs driver's fast paths against QEMU's own tools: the native qcow2 writer (qemu-img check
 * and the bytes qemu-img reads back), qcow2 reads straight from the file and through qemu-nbd
 * for the images the direct path must refuse (compressed, backed), and O_DIRECT writes and whole
 * file reads with aligned and unaligned memory.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChunkSlots } from '../../core/engine/chunk-slots.js';
import { DirectFile, readFileInto } from '../../drivers/direct-io.js';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import { Qcow2Writer } from '../../drivers/hypervisor/qcow2-writer.js';
import { cleanup, tempDir } from '../support/daemon.js';

const MiB = 1024 * 1024;

/** The guest bytes of an image as QEMU reads them. */
function guestBytes(dir: string, image: string, format: 'raw' | 'qcow2'): Buffer {
  const out = join(dir, `read-${randomBytes(4).toString('hex')}.raw`);
  execFileSync('qemu-img', ['convert', '-f', format, '-O', 'raw', image, out]);
  return readFileSync(out);
}

describe('fs driver I/O paths', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => cleanup(dir));

  it('the native qcow2 writer makes an image qemu-img checks clean and reads back byte for byte', async () => {
    // Whole 512-byte sectors (as QEMU sizes images), not whole clusters; more than one L2 table
    // (512 MiB each) in reach.
    const size = 600 * MiB + 12288 + 512;
    const expected = Buffer.alloc(size);
    const path = join(dir, 'native.qcow2');
    const w = await Qcow2Writer.create(path, size);
    const pieces: [number, number][] = [
      [4 * MiB, 4 * MiB], // a whole chunk
      [0, 100], // a partial first cluster
      [65536 * 3 + 17, 200_000], // unaligned, across clusters
      [4 * MiB + 65536, 1000], // rewrites inside an already written cluster
      [540 * MiB, 4 * MiB], // in the second L2 table
      [size - 5000, 5000], // the partial last cluster
    ];
    for (const [offset, length] of pieces) {
      const data = randomBytes(length);
      data.copy(expected, offset);
      await w.write(offset, data);
    }
    await assert.rejects(w.write(size - 10, Buffer.alloc(11)), RangeError);
    await w.commit();
    execFileSync('qemu-img', ['check', '-q', path]);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', path]).toString()) as {
      'virtual-size': number;
    };
    assert.equal(info['virtual-size'], size);
    assert.ok(guestBytes(dir, path, 'qcow2').equals(expected));
    // Sparse: far less than the virtual size is allocated.
    assert.ok(statSync(path).size < 20 * MiB, `file is ${statSync(path).size} bytes`);
  });

  it('an empty native qcow2 is valid and reads as zeros', async () => {
    const path = join(dir, 'empty.qcow2');
    const w = await Qcow2Writer.create(path, 3 * MiB);
    await w.commit();
    execFileSync('qemu-img', ['check', '-q', path]);
    assert.ok(guestBytes(dir, path, 'qcow2').equals(Buffer.alloc(3 * MiB)));
  });

  for (const kind of ['plain', 'compressed', 'backed'] as const) {
    it(`reads a ${kind} qcow2 as its guest bytes, holes as zeros, and cleans up`, async () => {
      const raw = join(dir, `${kind}.raw`);
      const fd = openSync(raw, 'w');
      ftruncateSync(fd, 20 * MiB);
      writeSync(fd, randomBytes(3 * MiB), 0, 3 * MiB, MiB + 512);
      writeSync(fd, Buffer.from('end'), 0, 3, 20 * MiB - 3);
      closeSync(fd);
      const image = join(dir, `${kind}.qcow2`);
      if (kind === 'backed') {
        const base = join(dir, 'base.qcow2');
        execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, base]);
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, image]);
      } else {
        const args = kind === 'compressed' ? ['-c'] : [];
        execFileSync('qemu-img', ['convert', ...args, '-f', 'raw', '-O', 'qcow2', raw, image]);
      }
      const scratch = join(dir, `scratch-${kind}`);
      const disk = { diskId: 0, source: image, format: 'qcow2' as const, virtualSize: 20 * MiB };
      const pit = await fsDriver.prepare(
        { id: 1, state: 'POWEROFF', disks: [disk] },
        { freeze: 'NONE', scratchDir: scratch },
      );
      try {
        const extents = await fsDriver.extents(pit, 0);
        assert.ok(extents.some((e) => e.offset <= MiB + 512 && e.offset + e.length >= 4 * MiB + 512));
        const got = Buffer.alloc(20 * MiB);
        // Unaligned pieces, across runs and into the holes.
        for (let at = 0; at < got.length; at += 3 * MiB + 4097) {
          const n = Math.min(3 * MiB + 4097, got.length - at);
          await fsDriver.read(pit, 0, at, got.subarray(at, at + n));
        }
        assert.ok(got.equals(readFileSync(raw)));
      } finally {
        await fsDriver.release(pit);
      }
      assert.deepEqual(readdirSync(scratch), []);
    });
  }

  it('O_DIRECT writes from aligned slots and page-cache writes from any buffer give the same file', async () => {
    const slots = new ChunkSlots(1);
    const slot = await slots.acquire();
    const data = randomBytes(MiB + 1000);
    slot.plain.set(data);
    const expected = Buffer.alloc(3 * MiB);
    const aligned = join(dir, 'aligned.bin');
    const f = await DirectFile.create(aligned, 0o600);
    await f.truncate(3 * MiB);
    await f.write(slot.plain.subarray(0, data.length), MiB); // direct, then a buffered tail
    data.copy(expected, MiB);
    const odd = randomBytes(8192 + 3).subarray(3); // memory of unknown alignment
    await f.write(odd, 0);
    odd.copy(expected, 0);
    await f.write(odd.subarray(0, 77), 2 * MiB + 4096 * 3 + 5); // unaligned position
    odd.subarray(0, 77).copy(expected, 2 * MiB + 4096 * 3 + 5);
    await f.sync();
    await f.close();
    assert.ok(readFileSync(aligned).equals(expected));
    assert.equal(statSync(aligned).mode & 0o777, 0o600);
  });

  it('whole chunk files read through O_DIRECT into aligned slots, through the page cache otherwise', async () => {
    const slots = new ChunkSlots(1);
    const slot = await slots.acquire();
    const odd = Buffer.alloc(3 * MiB + 3).subarray(3); // memory of unknown alignment
    // Cached bytes of a file, as the kernel reports them (util-linux's fincore).
    const cached = (path: string) =>
      Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]).toString().trim());
    let directWorks = true;
    try {
      closeSync(openSync(join(dir, 'probe'), constants.O_CREAT | constants.O_RDWR | constants.O_DIRECT));
    } catch {
      directWorks = false;
    }
    for (const size of [0, 1, 4095, 4096, 4097, 2 * MiB + 123, 3 * MiB]) {
      const path = join(dir, `chunk-${size}`);
      const data = randomBytes(size);
      // Written as the datastore writes chunks: blocks with O_DIRECT (not cached), the tail cached.
      const f = await DirectFile.create(path, 0o600);
      slot.payload.set(data);
      await f.write(slot.payload.subarray(0, size), 0);
      await f.sync();
      await f.close();
      slot.payload.fill(0);
      assert.equal(await readFileInto(path, slot.payload), size);
      assert.ok(data.equals(slot.payload.subarray(0, size)), `${size} bytes into a slot`);
      // The blocks came from the device, not through the page cache: at most the tail is cached.
      if (directWorks)
        assert.ok(cached(path) <= 4096, `${size} bytes: ${cached(path)} cached after a direct read`);
      odd.fill(0);
      assert.equal(await readFileInto(path, odd), size);
      assert.ok(odd.subarray(0, size).equals(data), `${size} bytes into unaligned memory`);
      if (size > 8192)
        assert.ok(cached(path) > 4096, 'a read into unaligned memory goes through the page cache');
      if (size > 0)
        await assert.rejects(readFileInto(path, slot.payload.subarray(0, size - 1)), /is larger than/);
    }
    await assert.rejects(readFileInto(join(dir, 'no-such-chunk'), slot.payload), { code: 'ENOENT' });
  });
});
