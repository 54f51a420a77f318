/**
 * The manifest of one backup increment: which chunks make each disk, in order. Written last and
 * atomically; a backup without a manifest does not exist. Each manifest lists every chunk of
 * its disks, so any increment restores on its own (docs/FORMAT.md).
 * From version 2 a manifest carries `integrity` over its canonical bytes: an HMAC-SHA-256 with a
 * key derived from the datastore key when the datastore is encrypted (a tampered manifest is
 * refused), a plain SHA-256 otherwise (accidental damage is found). Version 1 stays readable.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { ChunkKeys } from '../chunk-keys.js';
import type { Compression, DiskFormat } from '../model.js';

export const CHUNK_SIZE = 4 * 1024 * 1024;
export const MANIFEST_FORMAT = 'onebackup-manifest';
export const MANIFEST_VERSION = 2;

export interface ManifestDisk {
  readonly diskId: number;
  readonly format: DiskFormat;
  readonly virtualSize: number;
  /** One entry per CHUNK_SIZE piece of the disk: the chunk ID, or null for all zeros. */
  readonly chunks: readonly (string | null)[];
  /** SHA-256 over the ordered chunk IDs ("0" for a zero chunk), hex: identifies the content. */
  readonly digest: string;
  /**
   * Encrypted datastores, disks on a host reached over SSH: per chunk, HMAC-SHA-256 of its bytes
   * under the disk's host digest key (host-digest-keys.ts), hex, null for zeros. The next
   * increment asks the host's agent for the same and moves only the chunks that differ. Absent
   * when not every chunk's is known (older manifests, local hosts, unencrypted datastores, whose
   * chunk IDs serve instead). Covered by `integrity` like every other field.
   */
  readonly hostDigests?: readonly (string | null)[];
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
  /** The manifest of the increment before this one in its chain (null: a FULL, the chain's first). */
  readonly parent: string | null;
  /**
   * The manifest path of the FULL backup that began this increment's chain (its own for a FULL),
   * kept when retention drops that one: `onedatastore import` rebuilds one image per chain from
   * it. Absent in manifests written before chains were recorded.
   */
  readonly chain?: string;
  readonly disks: readonly ManifestDisk[];
  readonly stats: ManifestStats;
  /** How the point in time was taken (drivers that know: kvm); absent for older manifests. */
  readonly capture?: ManifestCapture;
  /** Version 2 on: the MAC (encrypted datastore) or digest over the other fields' canonical bytes. */
  readonly integrity?: ManifestIntegrity;
}

/** The backup's instant as the hypervisor driver took it, and what an increment read. */
export interface ManifestCapture {
  readonly hypervisor: string;
  /** `filesystem`: frozen by the guest agent or paused; `crash`: as after a power cut. */
  readonly consistency: 'crash' | 'filesystem';
  readonly frozenMs: number;
  /** The checkpoint started at this instant: the next increment reads the changes since it. */
  readonly checkpoint?: string;
  /** The checkpoint whose changed blocks this backup read (changed-block tracking). */
  readonly since?: string;
  /** Disks read whole although changes since a checkpoint were asked for, with why. */
  readonly fullRead?: Readonly<Record<string, string>>;
  /** Bytes the changed blocks covered (the rest was taken from the previous backup). */
  readonly changedBytes?: number;
  readonly warnings?: readonly string[];
}

export interface ManifestIntegrity {
  readonly algorithm: 'hmac-sha256' | 'sha256';
  /** Hex. */
  readonly value: string;
}

export function diskDigest(chunks: readonly (string | null)[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c === null ? '0\n' : `${c}\n`);
  return h.digest('hex');
}

/** JSON with keys sorted at every level and no spaces: what `integrity` covers. */
export function canonicalBytes(value: unknown): Buffer {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return Buffer.from(JSON.stringify(sorted(value)));
}

const macKeys = new WeakMap<ChunkKeys, Buffer>();

/** The manifest MAC key: HKDF-SHA-256 of the datastore's MAC key (never the chunk-ID key itself). */
function manifestMacKey(keys: ChunkKeys): Buffer {
  let k = macKeys.get(keys);
  if (!k) {
    k = Buffer.from(hkdfSync('sha256', keys.mac, Buffer.alloc(0), 'onebackup-manifest-mac-v1', 32));
    macKeys.set(keys, k);
  }
  return k;
}

function integrityOf(body: Omit<Manifest, 'integrity'>, keys: ChunkKeys | undefined): ManifestIntegrity {
  const bytes = canonicalBytes(body);
  return keys
    ? {
        algorithm: 'hmac-sha256',
        value: createHmac('sha256', manifestMacKey(keys)).update(bytes).digest('hex'),
      }
    : { algorithm: 'sha256', value: createHash('sha256').update(bytes).digest('hex') };
}

/** The manifest's bytes with its `integrity` (a MAC with `keys`, for an encrypted datastore). */
export function encodeManifest(m: Manifest, keys: ChunkKeys | undefined): Buffer {
  const { integrity: _old, ...body } = m;
  const sealed: Manifest = { ...body, integrity: integrityOf(body, keys) };
  return Buffer.from(`${JSON.stringify(sealed, null, 1)}\n`);
}

const NOT_TRUSTED = 'the manifest was altered or damaged and is not trusted';

/** Throws unless `m`'s integrity field verifies (with `keys` when the datastore is encrypted). */
function checkIntegrity(m: Manifest, keys: ChunkKeys | undefined, where: string): void {
  const { integrity, ...body } = m;
  if (!integrity || typeof integrity.value !== 'string')
    throw new Error(`manifest ${where}: version ${m.version} without its integrity field: ${NOT_TRUSTED}`);
  if (integrity.algorithm === 'hmac-sha256' || m.encrypted) {
    if (!keys)
      throw new Error(
        `manifest ${where}: it is authenticated with the key of its encrypted datastore, which is not installed; install it with onedatastore key-import`,
      );
    if (integrity.algorithm !== 'hmac-sha256')
      throw new Error(
        `manifest ${where}: the datastore is encrypted but the manifest has no MAC: ${NOT_TRUSTED}`,
      );
  } else if (keys)
    throw new Error(
      `manifest ${where}: the datastore is encrypted but the manifest has no MAC: ${NOT_TRUSTED}`,
    );
  const expected = Buffer.from(integrityOf(body, keys).value, 'hex');
  const given = Buffer.from(integrity.value, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new Error(
      `manifest ${where}: its ${integrity.algorithm === 'hmac-sha256' ? 'MAC does not verify with the datastore key' : 'SHA-256 does not match its content'}: ${NOT_TRUSTED}`,
    );
}

/**
 * Reads a manifest and checks it: format, version, `integrity` (version 2 on; `keys` are the
 * datastore's when it is encrypted, undefined otherwise) and each disk's chunk-list digest.
 */
export function decodeManifest(bytes: Uint8Array, where: string, keys: ChunkKeys | undefined): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
  } catch (err) {
    throw new Error(`manifest ${where}: not JSON: ${(err as Error).message}`);
  }
  if (m === null || typeof m !== 'object' || m.format !== MANIFEST_FORMAT)
    throw new Error(`manifest ${where}: not a onebackup manifest`);
  if (m.version > MANIFEST_VERSION) {
    throw new Error(
      `manifest ${where}: format version ${m.version} is newer than this onebackup (${MANIFEST_VERSION})`,
    );
  }
  if (m.version >= 2) checkIntegrity(m, keys, where);
  if (!Array.isArray(m.disks)) throw new Error(`manifest ${where}: no disk list: ${NOT_TRUSTED}`);
  for (const d of m.disks) {
    if (d.digest !== diskDigest(d.chunks))
      throw new Error(`manifest ${where}: disk ${d.diskId} chunk list does not match its digest`);
  }
  return m;
}

/** Whether the bytes are a manifest of an encrypted datastore (read without checking it). */
export function isEncryptedManifest(bytes: Uint8Array): boolean {
  try {
    return (JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Manifest>)?.encrypted === true;
  } catch {
    return false;
  }
}

/** The statistics an increment records (JSON): byte counts, duration, compression, encryption, digests. */
export function incrementStats(m: Manifest): string {
  return JSON.stringify({
    ...m.stats,
    compression: m.compression,
    compressionLevel: m.compressionLevel,
    encrypted: m.encrypted,
    ...(m.capture ? { capture: m.capture } : {}),
    digests: Object.fromEntries(m.disks.map((d) => [d.diskId, d.digest])),
  });
}
