/**
 * Disk facts for the fs driver: format and guest-visible size of a raw or qcow2 file.
 * raw is the file's size; qcow2's is read from its header when that is a plain one (version 2
 * or 3, no encryption, no incompatible feature bits, a sane cluster size, and a file long enough
 * for its L1 table), which spares a `qemu-img` process per VM create; any other qcow2 is left to
 * QEMU's own `qemu-img info`, which also refuses what QEMU could not open.
 */
import { open, stat } from 'node:fs/promises';
import type { DiskFacts } from '../../core/disk-facts.js';
import { ErrorCode, OneError } from '../../core/errors.js';
import type { DiskFormat } from '../../core/model.js';
import { execFileOffThread } from './exec-thread.js';

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** Bytes of the qcow2 header read: version 3's fixed part (version 2's is 72). */
const HEADER_BYTES = 104;

/** The first bytes of the file: enough for the format and a qcow2 header. */
async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await fh.read(head, 0, HEADER_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const isQcow2 = (head: Buffer): boolean => head.length >= 4 && head.subarray(0, 4).equals(QCOW2_MAGIC);

/**
 * The virtual size in a plain qcow2 header (QEMU's docs/interop/qcow2.txt), or undefined when the
 * header is anything else and qemu-img must judge: another version, encryption, an incompatible
 * feature (dirty, corrupt, external data file, compression type, extended L2), a cluster size
 * outside 512 B-2 MiB, or an L1 table past the end of the file.
 */
export function qcow2HeaderSize(head: Buffer, fileSize: number): number | undefined {
  if (!isQcow2(head) || head.length < 72) return undefined;
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) return undefined;
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) return undefined;
  const size = head.readBigUInt64BE(24);
  if (head.readUInt32BE(32) !== 0) return undefined;
  const l1Size = BigInt(head.readUInt32BE(36));
  const l1Offset = head.readBigUInt64BE(40);
  if (l1Offset + l1Size * 8n > BigInt(fileSize)) return undefined;
  if (version === 3) {
    if (head.length < 104 || head.readBigUInt64BE(72) !== 0n || head.readUInt32BE(100) < 104)
      return undefined;
  }
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(size);
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
  let head: Buffer;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    head = await readHead(path);
    actual = isQcow2(head) ? 'qcow2' : 'raw';
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
  const fromHeader = qcow2HeaderSize(head, size);
  if (fromHeader !== undefined) return { format: 'qcow2', virtualSize: fromHeader };
  try {
    const { stdout } = await execFileOffThread('qemu-img', ['info', '--output=json', '-f', 'qcow2', path], {
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
