/**
 * Disk facts for the fs driver: format and guest-visible size of a raw or qcow2 file.
 * qcow2 is read with QEMU's own `qemu-img info`; raw is the file's size.
 */
import { execFile } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { DiskFacts } from '../../core/disk-facts.js';
import { ErrorCode, OneError } from '../../core/errors.js';
import type { DiskFormat } from '../../core/model.js';

const run = promisify(execFile);
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

async function sniff(path: string): Promise<DiskFormat> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head.equals(QCOW2_MAGIC) ? 'qcow2' : 'raw';
  } finally {
    await fh.close();
  }
}

function explain(path: string, err: unknown): OneError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES'
        ? 'permission denied for onebackupd'
        : code === 'EISDIR'
          ? 'it is a directory, not a disk file'
          : (err as Error).message;
  return new OneError(ErrorCode.ACTION, `disk ${path}: ${why}`, { cause: err });
}

export async function inspectDiskFile(path: string, declared: DiskFormat | undefined): Promise<DiskFacts> {
  let actual: DiskFormat;
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    actual = await sniff(path);
    size = st.size;
  } catch (err) {
    throw explain(path, err);
  }
  if (declared !== undefined && declared !== actual) {
    throw new OneError(
      ErrorCode.ACTION,
      `disk ${path}: FORMAT="${declared}" but the file is ${actual}; write FORMAT="${actual}" or leave FORMAT out`,
    );
  }
  if (actual === 'raw') return { format: 'raw', virtualSize: size };
  try {
    const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', path], {
      maxBuffer: 1 << 20,
    });
    const info = JSON.parse(stdout) as { 'virtual-size'?: number };
    const virtualSize = info['virtual-size'];
    if (typeof virtualSize !== 'number') throw new Error('qemu-img info gave no virtual-size');
    return { format: 'qcow2', virtualSize };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new OneError(
        ErrorCode.INTERNAL,
        `disk ${path}: qemu-img is not installed (Debian package qemu-utils)`,
        {
          cause: err,
        },
      );
    }
    throw new OneError(
      ErrorCode.ACTION,
      `disk ${path}: qemu-img info failed: ${(e.stderr ?? e.message).trim()}`,
      {
        cause: err,
      },
    );
  }
}
