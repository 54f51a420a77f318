/**
 * Chunk IDs: the hash of a chunk's plaintext, hex, keyed with the datastore's MAC key when it is
 * encrypted (so IDs say nothing about the content to whoever reads the storage). Two hashes:
 *   sha256  HMAC-SHA-256 (plain SHA-256 unencrypted): datastores made before BLAKE3.
 *   blake3  BLAKE3 in keyed mode (plain BLAKE3 unencrypted), 32 bytes out: new datastores. With
 *           AVX-512 or AVX2 it hashes about five times faster than SHA-256 with SHA-NI
 *           (10 GB/s against 2.1 GB/s on one core here), and hashing every chunk is a fifth of a
 *           full backup's CPU otherwise. The keyed mode is BLAKE3's MAC, as HMAC is SHA-256's.
 * Both are 64 hex digits, so storage layouts and manifests are unchanged; a chunk's header says
 * which names it (chunk-codec.ts), and a datastore's identity which its new chunks get.
 */
import { createHash, createHmac } from 'node:crypto';
import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';
import type { ChunkKeys } from '../chunk-keys.js';
import type { ChunkIdHash } from '../model.js';

export function chunkId(plain: Uint8Array, keys: ChunkKeys | undefined, hash: ChunkIdHash): string {
  if (hash === 'blake3')
    return keys
      ? Blake3Hasher.newKeyed(Buffer.from(keys.mac.buffer, keys.mac.byteOffset, keys.mac.byteLength))
          .update(plain)
          .digest('hex')
      : blake3(plain).toString('hex');
  return (keys ? createHmac('sha256', keys.mac) : createHash('sha256')).update(plain).digest('hex');
}
