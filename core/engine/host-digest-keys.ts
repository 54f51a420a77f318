/**
 * The host digest key of one disk of one VM on an encrypted datastore: what the daemon gives the
 * host's agent so that it can tell which chunks changed (core/host-digest.ts) without the
 * datastore key. Derived as the manifest MAC key is (manifest.ts): HKDF-SHA-256 of the
 * datastore's MAC key with a label of its own, then HMAC-SHA-256 of the VM and disk IDs under it.
 * A host gets the keys of the disks it holds, from which neither the datastore key nor another
 * disk's key follows; a chunk's host digest says nothing about its chunk ID (another key).
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { ChunkKeys } from '../chunk-keys.js';
import { HOST_DIGEST_KEY_BYTES } from '../host-digest.js';

const roots = new WeakMap<ChunkKeys, Buffer>();

/** HKDF-SHA-256 of the datastore's MAC key for host digests (never the chunk-ID key itself). */
function hostDigestRoot(keys: ChunkKeys): Buffer {
  let k = roots.get(keys);
  if (!k) {
    k = Buffer.from(
      hkdfSync('sha256', keys.mac, Buffer.alloc(0), 'onebackup-host-digest-v1', HOST_DIGEST_KEY_BYTES),
    );
    roots.set(keys, k);
  }
  return k;
}

export function hostDigestKey(keys: ChunkKeys, vmId: number, diskId: number): Buffer {
  return createHmac('sha256', hostDigestRoot(keys))
    .update(`onebackup-host-digest-key-v1 vm ${vmId} disk ${diskId}`)
    .digest();
}
