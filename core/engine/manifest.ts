/**
 * The manifest of one backup increment: which chunks make each disk, in order. Written last and
 * atomically; a backup without a manifest does not exist. Each manifest lists every chunk of
 * its disks, so any increment restores on its own (docs/FORMAT.md).
 */
import { createHash } from 'node:crypto';
import type { Compression, DiskFormat } from '../model.js';

export const CHUNK_SIZE = 4 * 1024 * 1024;
export const MANIFEST_FORMAT = 'onebackup-manifest';
export const MANIFEST_VERSION = 1;

export interface ManifestDisk {
  readonly diskId: number;
  readonly format: DiskFormat;
  readonly virtualSize: number;
  /** One entry per CHUNK_SIZE piece of the disk: the chunk ID, or null for all zeros. */
  readonly chunks: readonly (string | null)[];
  /** SHA-256 over the ordered chunk IDs ("0" for a zero chunk), hex: identifies the content. */
  readonly digest: string;
}

export interface ManifestStats {
  readonly bytesRead: number;
  readonly bytesStored: number;
  readonly bytesDeduplicated: number;
  readonly bytesZero: number;
  readonly durationMs: number;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: number;
  readonly vmId: number;
  readonly createdAt: number;
  readonly chunkSize: number;
  readonly compression: Compression;
  readonly compressionLevel: number;
  readonly encrypted: boolean;
  readonly parent: string | null;
  readonly disks: readonly ManifestDisk[];
  readonly stats: ManifestStats;
}

export function diskDigest(chunks: readonly (string | null)[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c === null ? '0\n' : `${c}\n`);
  return h.digest('hex');
}

export function encodeManifest(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 1)}\n`);
}

export function decodeManifest(bytes: Uint8Array, where: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
  } catch (err) {
    throw new Error(`manifest ${where}: not JSON: ${(err as Error).message}`);
  }
  if (m.format !== MANIFEST_FORMAT) throw new Error(`manifest ${where}: not a onebackup manifest`);
  if (m.version > MANIFEST_VERSION) {
    throw new Error(
      `manifest ${where}: format version ${m.version} is newer than this onebackup (${MANIFEST_VERSION})`,
    );
  }
  for (const d of m.disks) {
    if (d.digest !== diskDigest(d.chunks))
      throw new Error(`manifest ${where}: disk ${d.diskId} chunk list does not match its digest`);
  }
  return m;
}

/** The statistics an increment records (JSON): byte counts, duration, compression, encryption, digests. */
export function incrementStats(m: Manifest): string {
  return JSON.stringify({
    ...m.stats,
    compression: m.compression,
    compressionLevel: m.compressionLevel,
    encrypted: m.encrypted,
    digests: Object.fromEntries(m.disks.map((d) => [d.diskId, d.digest])),
  });
}
