/**
 * Restored disk files of the fs driver (drivers/hypervisor/disk-writer.ts) with real qemu-img:
 * a suspended partial resumes, skipping what its checkpoints recorded, into an image qemu-img
 * checks clean and finds identical to what was written; an existing target is never replaced.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import { cleanup, tempDir } from '../support/daemon.js';

const C = 4 * 1024 * 1024;
const dir = tempDir('onebackup-writer-');
after(() => cleanup(dir));

describe('fs disk writer', () => {
  for (const format of ['raw', 'qcow2'] as const) {
    it(`${format}: a suspended partial resumes, skipping the recorded writes, and matches byte for byte`, async () => {
      const size = 10 * C + 12345;
      const ref = Buffer.alloc(size);
      const target = join(dir, `out.${format}`);
      const options = { partial: `${target}.part`, resume: false, overwrite: false };
      const put = async (w: Awaited<ReturnType<typeof fsDriver.createDisk>>, i: number) => {
        const data = randomBytes(Math.min(C, size - i * C));
        data.copy(ref, i * C);
        await w.write(i * C, data);
      };
      const chunks = [0, 2, 3, 5, 7, 9, 10];
      let w = await fsDriver.createDisk(target, format, size, options);
      for (const i of chunks.slice(0, 4)) await put(w, i);
      await w.checkpoint();
      await put(w, 7);
      await w.suspend();
      assert.equal(existsSync(target), false);
      w = await fsDriver.createDisk(target, format, size, { ...options, resume: true });
      assert.deepEqual(
        [...w.done].sort((a, b) => a - b),
        [0, 2, 3, 5, 7].map((i) => i * C),
      );
      for (const i of chunks) if (!w.done.has(i * C)) await put(w, i);
      await w.commit();
      assert.equal(existsSync(`${target}.part`), false);
      assert.equal(existsSync(`${target}.part.done`), false);
      const refPath = join(dir, `ref-${format}.raw`);
      writeFileSync(refPath, ref);
      if (format === 'qcow2') execFileSync('qemu-img', ['check', target]);
      execFileSync('qemu-img', ['compare', '-f', format, '-F', 'raw', target, refPath]);

      const before = readFileSync(target);
      const again = await fsDriver.createDisk(target, format, size).catch((err: unknown) => err);
      assert.match(String(again), /already exists; a restore never replaces a file/);
      assert.deepEqual(readFileSync(target), before);
    });
  }
});
