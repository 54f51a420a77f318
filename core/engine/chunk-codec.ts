/**
 * One chunk in and out of a datastore. The ID is the hash of the plaintext, keyed with the
 * datastore's MAC key when encrypted (chunk-id.ts), hex. The stored payload:
 *   byte 0      version: 1 = the ID is (HMAC-)SHA-256, 2 = it is (keyed) BLAKE3; same layout
 *   byte 1      flags: bits 0-1 compression (0 none, 1 zstd, 2 gzip), bit 2 encrypted
 *   bytes 2-5   plaintext length, uint32 big-endian
 *   encrypted:  12-byte nonce, 16-byte GCM tag, then AES-256-GCM(compressed) with the ID as AAD
 *   otherwise:  the compressed bytes
 * The compressed bytes are written at their place in the payload and encrypted there, in place
 * (aes-gcm.ts: OpenSSL through a small addon, node:crypto when it is not built). Chunks are at
 * most CHUNK_SIZE.
 */
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ChunkKeys } from '../chunk-keys.js';
import type { ChunkIdHash, Compression } from '../model.js';
import { gcmOpen, gcmSeal } from './aes-gcm.js';
import { chunkId } from './chunk-id.js';
import { PAYLOAD_CAPACITY } from './chunk-slots.js';
import { CHUNK_SIZE } from './manifest.js';
import { type CCtx, type DCtx, zstd } from './zstd-binding.js';

export interface CodecOptions {
  readonly compression: Compression;
  readonly level: number;
  readonly keys?: ChunkKeys | undefined;
  /** How the datastore names its chunks (its identity says). */
  readonly chunkIds: ChunkIdHash;
}

/** The header's version byte for each way of naming chunks, and back. */
const VERSION_OF: Readonly<Record<ChunkIdHash, number>> = { sha256: 1, blake3: 2 };
const HASH_OF_VERSION: ReadonlyMap<number, ChunkIdHash> = new Map(
  Object.entries(VERSION_OF).map(([hash, version]) => [version, hash as ChunkIdHash]),
);
const COMPRESSION_CODE: Readonly<Record<Compression, number>> = { none: 0, zstd: 1, gzip: 2 };

export class ChunkCorruptError extends Error {
  override name = 'ChunkCorruptError';
}

/** Bytes of a stored chunk's header: version, flags, plaintext length. */
export const CHUNK_HEADER = 6;

/**
 * Why a stored chunk's size and header cannot be those of a chunk of `plainLength` bytes (a crash
 * left it short or torn, or it is not a chunk at all), or undefined when they can be. Cheap: the
 * size and 6 bytes, no decoding; a full read (restore, verify) still checks the digest and
 * quarantines what fails. An uncompressed chunk's size is exact; a compressed one's is bounded.
 */
export function storedChunkProblem(
  found: { readonly size: number; readonly head: Uint8Array },
  plainLength: number,
  encrypted: boolean,
): string | undefined {
  const { size, head } = found;
  if (size < CHUNK_HEADER || head.length < CHUNK_HEADER) return `${size} bytes, shorter than a chunk header`;
  if (!HASH_OF_VERSION.has(head[0] as number)) return `unknown format ${head[0]}`;
  const flags = head[1] as number;
  if ((flags & ~7) !== 0 || (flags & 3) === 3) return `unknown flags ${flags}`;
  if (Boolean(flags & 4) !== encrypted) return encrypted ? 'not encrypted' : 'encrypted';
  const length = new DataView(head.buffer, head.byteOffset, CHUNK_HEADER).getUint32(2);
  if (length !== plainLength) return `header says ${length} bytes of data, the chunk has ${plainLength}`;
  const overhead = CHUNK_HEADER + (encrypted ? 28 : 0);
  if ((flags & 3) === 0 ? size !== overhead + plainLength : size <= overhead || size > PAYLOAD_CAPACITY)
    return `${size} bytes stored, not a whole chunk`;
  return undefined;
}

/** Per-thread zstd contexts: a context holds about a megabyte of tables, worth keeping. */
const compressors = new Map<number, CCtx>();
let decompressor: DCtx | undefined;
/** Per-thread scratch for the decrypted, still compressed bytes of a chunk being read. */
let scratch: Buffer | undefined;

function scratchBuffer(): Buffer {
  scratch ??= Buffer.allocUnsafeSlow(zstd.compressBound(CHUNK_SIZE) + 64 * 1024);
  return scratch;
}

function compressor(level: number): CCtx {
  let c = compressors.get(level);
  if (!c) {
    c = new zstd.CCtx();
    c.setParameter(zstd.CParameter.compressionLevel, level);
    compressors.set(level, c);
  }
  return c;
}

/** Compresses `plain` into `into`; returns the compressed length. */
function compressInto(plain: Uint8Array, o: CodecOptions, into: Uint8Array): number {
  if (o.compression === 'zstd') return compressor(o.level).compress2(into, plain);
  const body = o.compression === 'gzip' ? gzipSync(plain, { level: o.level }) : plain;
  if (body.length > into.length) throw new Error(`compressed chunk larger than ${into.length} bytes`);
  into.set(body);
  return body.length;
}

/**
 * Encodes one chunk straight into `into` (at least PAYLOAD_CAPACITY bytes): compressed into its
 * place and encrypted there, no allocation per chunk (but node:crypto's slices when the AES-GCM
 * addon is not built). Returns the chunk ID and the payload length.
 */
export function encodeChunkInto(
  plain: Uint8Array,
  o: CodecOptions,
  into: Uint8Array,
  id: string = chunkId(plain, o.keys, o.chunkIds),
): { id: string; length: number } {
  into[0] = VERSION_OF[o.chunkIds];
  into[1] = COMPRESSION_CODE[o.compression] | (o.keys ? 4 : 0);
  new DataView(into.buffer, into.byteOffset, 6).setUint32(2, plain.length);
  if (!o.keys) return { id, length: 6 + compressInto(plain, o, into.subarray(6)) };
  const body = into.subarray(34, 34 + compressInto(plain, o, into.subarray(34)));
  const nonce = randomBytes(12);
  gcmSeal(o.keys.enc, nonce, Buffer.from(id, 'ascii'), body, body, into.subarray(18, 34));
  into.set(nonce, 6);
  return { id, length: 34 + body.length };
}

export function encodeChunk(plain: Uint8Array, o: CodecOptions): { id: string; payload: Buffer } {
  const out = Buffer.allocUnsafe(PAYLOAD_CAPACITY);
  const { id, length } = encodeChunkInto(plain, o, out);
  return { id, payload: Buffer.from(out.subarray(0, length)) };
}

/**
 * Decrypts (checking the GCM tag), decompresses into `into` and checks the length and the ID;
 * returns the plaintext length. Throws ChunkCorruptError.
 */
export function decodeChunkInto(
  id: string,
  payload: Uint8Array,
  keys: ChunkKeys | undefined,
  into: Uint8Array,
): number {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const hash = HASH_OF_VERSION.get(buf[0] as number);
  if (buf.length < 6 || hash === undefined) throw new ChunkCorruptError(`chunk ${id}: unknown format`);
  const flags = buf[1] as number;
  const length = buf.readUInt32BE(2);
  if (length > into.length) throw new ChunkCorruptError(`chunk ${id}: length ${length} is too large`);
  let body: Uint8Array = buf.subarray(6);
  if (flags & 4) {
    if (!keys) throw new ChunkCorruptError(`chunk ${id}: encrypted, but no key was given`);
    if (body.length < 28) throw new ChunkCorruptError(`chunk ${id}: truncated`);
    const work = scratchBuffer();
    if (buf.length - 34 > work.length) throw new ChunkCorruptError(`chunk ${id}: too large`);
    const sealed = buf.subarray(34);
    body = work.subarray(0, sealed.length);
    if (!gcmOpen(keys.enc, buf.subarray(6, 18), Buffer.from(id, 'ascii'), sealed, body, buf.subarray(18, 34)))
      throw new ChunkCorruptError(`chunk ${id}: GCM authentication failed (corrupt or wrong key)`);
  }
  let plainLength: number;
  try {
    const code = flags & 3;
    if (code === 1) {
      decompressor ??= new zstd.DCtx();
      plainLength = decompressor.decompress(into.subarray(0, length), body);
    } else {
      const plain = code === 2 ? gunzipSync(body) : body;
      if (plain.length > into.length) throw new Error(`more than ${into.length} bytes`);
      into.set(plain);
      plainLength = plain.length;
    }
  } catch (err) {
    throw new ChunkCorruptError(`chunk ${id}: cannot decompress: ${(err as Error).message}`);
  }
  if (plainLength !== length)
    throw new ChunkCorruptError(`chunk ${id}: length ${plainLength}, expected ${length}`);
  if (chunkId(into.subarray(0, length), keys, hash) !== id)
    throw new ChunkCorruptError(`chunk ${id}: digest mismatch`);
  return length;
}

/** Decrypts (checking the GCM tag), decompresses and checks the ID; throws ChunkCorruptError. */
export function decodeChunk(id: string, payload: Uint8Array, keys: ChunkKeys | undefined): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_SIZE);
  return Buffer.from(out.subarray(0, decodeChunkInto(id, payload, keys, out)));
}
