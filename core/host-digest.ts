/**
 * What a host's agent answers for a chunk on an encrypted datastore, and what the daemon records
 * for it: HMAC-SHA-256 of the chunk's bytes under the disk's host digest key (derived by the
 * daemon, core/engine/host-digest-keys.ts), hex. One function for both sides, so they agree. A
 * leaf: the agent (drivers/) and the engine's workers import it.
 */
import { createHmac } from 'node:crypto';

/** Bytes of a host digest key. */
export const HOST_DIGEST_KEY_BYTES = 32;

export function hostChunkDigest(key: Uint8Array, chunk: Uint8Array): string {
  return createHmac('sha256', key).update(chunk).digest('hex');
}
