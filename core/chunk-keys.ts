/**
 * The encryption keys of one datastore, as the key store (drivers/datastore/keys.ts) loads them
 * and the chunk codec (core/engine/chunk-codec.ts) uses them. A leaf, so the key store needs
 * nothing from the engine.
 */
export interface ChunkKeys {
  /** 32 bytes: HMAC key for chunk IDs. */
  readonly mac: Uint8Array;
  /** 32 bytes: AES-256-GCM key. */
  readonly enc: Uint8Array;
}
