/**
 * AES-256-GCM for the chunk codec: the native addon (core/engine/native/aes-gcm.c, built by
 * `npm run build`) encrypts and decrypts straight into the caller's buffer, in place or apart,
 * with the OpenSSL inside Node; node:crypto is the fallback when the addon was not built (no C
 * compiler) or ONEBACKUP_NATIVE_GCM=0. Both produce the same bytes: 12-byte nonce, AAD, 16-byte tag.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { createRequire } from 'node:module';

/** The AES-256 key, the 12-byte nonce, the AAD, the bytes in, the bytes out, the 16-byte tag. */
type GcmArgs = [
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  tag: Uint8Array,
];

interface NativeGcm {
  seal(...args: GcmArgs): void;
  open(...args: GcmArgs): boolean;
}

function loadNative(): { gcm?: NativeGcm; why?: string } {
  if (process.env.ONEBACKUP_NATIVE_GCM === '0') return { why: 'ONEBACKUP_NATIVE_GCM=0' };
  try {
    return { gcm: createRequire(import.meta.url)('./native/aes-gcm.node') as NativeGcm };
  } catch (err) {
    return { why: `native/aes-gcm.node not loaded (${(err as Error).message.split('\n')[0]})` };
  }
}

const native = loadNative();

/** How chunks are encrypted in this process, for the daemon's start-up log. */
export const gcmImplementation: string = native.gcm
  ? 'OpenSSL AES-256-GCM in place (native addon)'
  : `node:crypto AES-256-GCM (${native.why})`;

/**
 * Whether encrypting a chunk leaves garbage behind: node:crypto returns a new Buffer for every
 * slice (4 MiB of external memory per chunk); the addon allocates nothing.
 */
export const gcmLeavesGarbage: boolean = native.gcm === undefined;

/** node:crypto's one copy-out: 16 KiB slices measured fastest (PERFORMANCE.md). */
const SLICE = 16 * 1024;

function sliced(
  c: { update(b: Uint8Array): Buffer; final(): Buffer },
  src: Uint8Array,
  dst: Uint8Array,
): void {
  let n = 0;
  for (let i = 0; i < src.length; i += SLICE) {
    const part = c.update(src.subarray(i, i + SLICE));
    dst.set(part, n);
    n += part.length;
  }
  dst.set(c.final(), n);
}

/**
 * Encrypts `src` into `dst` (the same bytes, or apart; at least src.length long) and writes the
 * 16-byte tag into `tag`.
 */
export function gcmSeal(...[key, nonce, aad, src, dst, tag]: GcmArgs): void {
  if (native.gcm) {
    native.gcm.seal(key, nonce, aad, src, dst, tag);
    return;
  }
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  sliced(cipher, src, dst);
  tag.set(cipher.getAuthTag());
}

/** Decrypts `src` into `dst`; false when the tag does not match (corrupt or wrong key). */
export function gcmOpen(...[key, nonce, aad, src, dst, tag]: GcmArgs): boolean {
  if (native.gcm) return native.gcm.open(key, nonce, aad, src, dst, tag);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    sliced(decipher, src, dst);
    return true;
  } catch {
    return false;
  }
}
