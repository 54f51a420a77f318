/**
 * The datastore driver contract. Chunks are content-addressed (the ID is the hex digest of the
 * chunk's plaintext, keyed when the datastore is encrypted) and immutable; a manifest names the
 * chunks of one backup increment and is written last. Every put is durable and atomic when its
 * promise resolves: a crash leaves either the whole object or nothing visible (temp files are
 * removed by cleanup()).
 */
export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
}

export interface DatastoreStat {
  /** Bytes the filesystem can hold in all, and bytes in use by this datastore. */
  readonly capacityBytes: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
}

export interface DatastoreDriver {
  readonly name: string;
  hasChunk(id: string, o?: CallOptions): Promise<boolean>;
  /** Stores a chunk if absent; resolves once it is durable, to true if it was written now. */
  putChunk(id: string, bytes: Uint8Array, o?: CallOptions): Promise<boolean>;
  getChunk(id: string, o?: CallOptions): Promise<Buffer>;
  /**
   * Optional: reads a chunk into the caller's buffer and returns its length, so restores reuse
   * one buffer per chunk in flight instead of allocating one per chunk. Throws when the chunk
   * does not fit.
   */
  getChunkInto?(id: string, into: Uint8Array, o?: CallOptions): Promise<number>;
  deleteChunk(id: string): Promise<void>;
  listChunks(): AsyncIterable<string>;
  /** Writes (or replaces) a manifest atomically. `path` is relative, '/'-separated. */
  putManifest(path: string, doc: Uint8Array, o?: CallOptions): Promise<void>;
  getManifest(path: string, o?: CallOptions): Promise<Buffer>;
  /** Manifest paths under a prefix, sorted. */
  listManifests(prefix: string): Promise<string[]>;
  deleteManifest(path: string): Promise<void>;
  stat(): Promise<DatastoreStat>;
  /** Removes temp files a crash left behind; returns how many. */
  cleanup(): Promise<number>;
  isNotFound(err: unknown): boolean;
  /** A failure that retrying will not fix (no space, permission, bad config). */
  isPermanent(err: unknown): boolean;
}

export interface DatastoreConfig {
  readonly id: number;
  readonly basePath: string;
}

export interface DatastoreDriverFactory {
  readonly name: string;
  open(config: DatastoreConfig): Promise<DatastoreDriver>;
}
