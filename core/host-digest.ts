/**
 * What a host's agent answers for a chunk, and what the daemon records for it: on an encrypted
 * datastore HMAC-SHA-256 of the chunk's bytes under the disk's host digest key (derived by the
 * daemon, core/engine/host-digest-keys.ts), on an unencrypted one plain SHA-256; hex. Hosts run
 * Node's own crypto only (no BLAKE3 there), so this is SHA-256 whatever names the datastore's
 * chunks. One function for both sides, so they agree. A leaf: the agent (drivers/) and the
 * engine's workers import it.
 */
import { createHash, createHmac } from 'node:crypto';

/** Bytes of a host digest key. */
export const HOST_DIGEST_KEY_BYTES = 32;

/** The host digests a backup asks for: keyed (encrypted datastore) or not. */
export interface HostDigestKind {
  readonly key: Uint8Array | undefined;
}

export function hostChunkDigest(key: Uint8Array | undefined, chunk: Uint8Array): string {
  return (key ? createHmac('sha256', key) : createHash('sha256')).update(chunk).digest('hex');
}
