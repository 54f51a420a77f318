/**
 * Real disk images with known content for fault tests: raw files and qcow2 images (qemu-img,
 * qemu-io), changed at seeded random places, and the SHA-256 of their guest-visible bytes (a
 * qcow2 is converted to raw first), which is what a restore must give back.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

export type DiskFormat = 'raw' | 'qcow2';

export interface KnownDisk {
  readonly path: string;
  readonly format: DiskFormat;
  readonly sizeMiB: number;
}

/** mulberry32: the places and patterns of writes replay from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)] as T;

/** A new disk of `sizeMiB`, with `dataMiB` of data written at the start and holes after it. */
export function makeKnownDisk(
  path: string,
  format: DiskFormat,
  sizeMiB: number,
  dataMiB: number,
  random: () => number,
): KnownDisk {
  execFileSync('qemu-img', ['create', '-q', '-f', format, path, `${sizeMiB}M`]);
  const disk = { path, format, sizeMiB };
  for (let at = 0; at < dataMiB; at++) writeAt(disk, at * MiB, MiB, random);
  return disk;
}

/** Writes `length` new bytes at `offset`: random ones into a raw file, a random pattern into a qcow2. */
export function writeAt(disk: KnownDisk, offset: number, length: number, random: () => number): void {
  if (disk.format === 'raw') {
    const fd = openSync(disk.path, 'r+');
    try {
      writeSync(fd, randomBytes(length), 0, length, offset);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const pattern = 1 + Math.floor(random() * 254);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -q -P ${pattern} ${offset} ${length}`, disk.path]);
}

/** Changes one to three random 64 KiB-aligned places of the disk (new data for the next backup). */
export function scribble(disk: KnownDisk, random: () => number): void {
  const blocks = (disk.sizeMiB * MiB) / 65536;
  const times = 1 + Math.floor(random() * 3);
  for (let i = 0; i < times; i++) {
    const length = 65536 * (1 + Math.floor(random() * 16));
    const at = Math.floor(random() * blocks) * 65536;
    writeAt(disk, at, Math.min(length, disk.sizeMiB * MiB - at), random);
  }
}

const fileSha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** SHA-256 of the guest-visible bytes of an image file (a qcow2 is converted to raw in `scratch`). */
export function guestSha(path: string, format: DiskFormat, scratch: string): string {
  if (format === 'raw') return fileSha(path);
  const out = join(scratch, `guest-${randomBytes(4).toString('hex')}.raw`);
  try {
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path, out]);
    return fileSha(out);
  } finally {
    rmSync(out, { force: true });
  }
}
