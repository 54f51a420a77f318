import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspectDiskFile, qcow2HeaderSize } from '../../drivers/hypervisor/disk-info.js';
import { cleanup, tempDir } from '../support/daemon.js';

const qemuSize = (path: string): number =>
  (
    JSON.parse(execFileSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' })) as {
      'virtual-size': number;
    }
  )['virtual-size'];

const header = (path: string): Buffer => readFileSync(path).subarray(0, 104);

describe('disk facts of a qcow2 file', () => {
  it('reads the virtual size from the header, as qemu-img does, for versions 2 and 3', async () => {
    const dir = tempDir();
    try {
      for (const [compat, size] of [
        ['1.1', '16M'],
        ['0.10', '16M'],
        ['1.1', '1000000512'],
        ['1.1', '3T'],
      ] as const) {
        const path = join(dir, `d-${compat}-${size}.qcow2`);
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compat=${compat}`, path, size]);
        const fromHeader = qcow2HeaderSize(header(path), statSync(path).size);
        assert.equal(fromHeader, qemuSize(path), `${compat} ${size}`);
        assert.deepEqual(await inspectDiskFile(path, undefined), {
          format: 'qcow2',
          virtualSize: qemuSize(path),
        });
      }
    } finally {
      cleanup(dir);
    }
  });

  it('leaves an unusual or damaged header to qemu-img, which refuses what QEMU cannot open', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'd.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '16M']);
      const good = header(path);
      const fileSize = statSync(path).size;
      const patched = (offset: number, bytes: number[]): Buffer => {
        const b = Buffer.from(good);
        Buffer.from(bytes).copy(b, offset);
        return b;
      };
      assert.equal(qcow2HeaderSize(patched(4, [0, 0, 0, 4]), fileSize), undefined, 'version 4');
      assert.equal(qcow2HeaderSize(patched(20, [0, 0, 0, 30]), fileSize), undefined, 'cluster bits');
      assert.equal(qcow2HeaderSize(patched(32, [0, 0, 0, 1]), fileSize), undefined, 'encrypted');
      assert.equal(qcow2HeaderSize(patched(79, [2]), fileSize), undefined, 'corrupt bit');
      assert.equal(qcow2HeaderSize(good, 1024), undefined, 'L1 table past the end of the file');
      assert.equal(qcow2HeaderSize(good.subarray(0, 50), fileSize), undefined, 'short header');

      // A version the header reader does not know: qemu-img judges, and refuses it.
      const v4 = join(dir, 'v4.qcow2');
      writeFileSync(v4, Buffer.concat([patched(4, [0, 0, 0, 4]), readFileSync(path).subarray(104)]));
      await assert.rejects(inspectDiskFile(v4, undefined), /disk .*v4\.qcow2: qemu-img info failed/);

      // Marked corrupt: qemu-img still reads its size, so the header path must not answer first.
      const corrupt = join(dir, 'corrupt.qcow2');
      writeFileSync(corrupt, readFileSync(path));
      const fd = openSync(corrupt, 'r+');
      writeSync(fd, Buffer.from([2]), 0, 1, 79);
      closeSync(fd);
      assert.equal(qcow2HeaderSize(header(corrupt), statSync(corrupt).size), undefined);
      assert.equal((await inspectDiskFile(corrupt, 'qcow2')).virtualSize, 16 * 1024 * 1024);
    } finally {
      cleanup(dir);
    }
  });
});
