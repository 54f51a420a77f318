/**
 * The datastore driver contract. Chunks are content-addressed (the ID is the hex digest of the
 * chunk's plaintext, keyed when the datastore is encrypted) and immutable; a manifest names the
 * chunks of one backup increment and is written last. Every put is atomic: a crash leaves either
 * the whole object or nothing visible under its name (temp files are removed by cleanup()), except
 * that a chunk not yet flushed may be found short or torn after a power cut (hence chunkHead()).
 * Durability follows the datastore's sync level (Proxmox Backup Server's): `file` makes each put
 * durable before it resolves; `filesystem` makes chunks durable together at flush() and manifests
 * and the identity as they resolve; `none` never flushes. The engine calls flush() before
 * putManifest(), so at `file` and `filesystem` no manifest names a chunk a crash can lose.
 */
import type { SyncLevel } from '../../core/model.js';

export type { SyncLevel };

/** What a stored chunk looks like from outside: its size and first bytes (a cheap check before reuse). */
export interface ChunkHead {
  readonly size: number;
  readonly head: Buffer;
}
export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
}

export interface PutChunkOptions extends CallOptions {
  /** Write over a chunk already there (its size or header was found wrong). */
  readonly replace?: boolean | undefined;
}

export interface DatastoreStat {
  /** Bytes the filesystem can hold in all, and bytes in use by this datastore. */
  readonly capacityBytes: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
}

export interface FilesystemSpace {
  readonly totalBytes: number;
  readonly freeBytes: number;
  readonly usedBytes: number;
}

export interface DatastoreDriver {
  readonly name: string;
  /** How puts are made durable (see above); restores and `onedatastore show` say it. */
  readonly syncLevel: SyncLevel;
  hasChunk(id: string, o?: CallOptions): Promise<boolean>;
  /**
   * The chunk's size and its first `bytes` bytes (fewer when the file is shorter), or undefined
   * when there is none: the engine checks them before it reuses a chunk a crash may have torn.
   */
  chunkHead(id: string, bytes: number): Promise<ChunkHead | undefined>;
  /**
   * Stores a chunk if absent (or in place of the one there, with `replace`: the caller found it
   * bad); resolves to true if it was written now. Durable at once at sync level `file`, else at
   * the next flush().
   */
  putChunk(id: string, bytes: Uint8Array, o?: PutChunkOptions): Promise<boolean>;
  /**
   * Makes every chunk put so far durable: one flush of the datastore's storage at sync level
   * `filesystem`, nothing at `file` (each put was) or `none`. Called before putManifest().
   */
  flush(o?: CallOptions): Promise<void>;
  getChunk(id: string, o?: CallOptions): Promise<Buffer>;
  /**
   * Optional: reads a chunk into the caller's buffer and returns its length, so restores reuse
   * one buffer per chunk in flight instead of allocating one per chunk. Throws when the chunk
   * does not fit.
   */
  getChunkInto?(id: string, into: Uint8Array, o?: CallOptions): Promise<number>;
  deleteChunk(id: string): Promise<void>;
  /**
   * Moves a chunk found bad (wrong digest or GCM tag, truncated) aside, where no backup or
   * restore reads it, as Proxmox Backup Server does: the next backup that produces the same data
   * writes it again, and an operator can still look at what was there. Resolves to false when
   * the chunk was not there (already moved or missing).
   */
  quarantineChunk(id: string): Promise<boolean>;
  listChunks(): AsyncIterable<string>;
  /**
   * Writes (or replaces) a manifest atomically, durable when it resolves (but at sync level
   * `none`). `path` is relative, '/'-separated.
   */
  putManifest(path: string, doc: Uint8Array, o?: CallOptions): Promise<void>;
  getManifest(path: string, o?: CallOptions): Promise<Buffer>;
  /** Manifest paths under a prefix, sorted. */
  listManifests(prefix: string): Promise<string[]>;
  deleteManifest(path: string): Promise<void>;
  stat(): Promise<DatastoreStat>;
  /** Optional: the free bytes alone, without stat()'s walk of everything stored (checked before each backup). */
  freeBytes?(): Promise<number>;
  /**
   * Optional: the size, free and used bytes of the filesystem that holds the datastore (statvfs,
   * no walk), as OpenNebula's TOTAL_MB/FREE_MB/USED_MB report it.
   */
  filesystem?(): Promise<FilesystemSpace>;
  /** Removes temp files a crash left behind; returns how many. */
  cleanup(): Promise<number>;
  /**
   * The datastore's identity document (which datastore this storage belongs to, written by the
   * engine: core/engine/datastore-identity.ts), or undefined when there is none.
   */
  readIdentity(): Promise<Buffer | undefined>;
  /** Writes (or replaces) the identity document atomically. */
  writeIdentity(doc: Uint8Array): Promise<void>;
  /** Whether the datastore holds no chunk and no manifest (temp files do not count). */
  isEmpty(): Promise<boolean>;
  isNotFound(err: unknown): boolean;
  /**
   * A failure that retrying will not fix: the scheduler marks the VM's backup failed for good
   * instead of retrying it after RETRY_INTERVAL (core/scheduler/failure.ts asks this, through the
   * engine's wrapper, and never parses messages or error codes itself). For a directory on this
   * host: no space or quota, no permission, a read-only filesystem, a path that is not a
   * directory. Not found is NOT permanent here: a chunk or directory missing during a write means
   * a concurrent removal or a base path not mounted yet, which a later attempt can get past, and
   * where a missing object is final the engine asks isNotFound() and decides.
   */
  isPermanent(err: unknown): boolean;
  /**
   * Releases what open() took (handles, connections). Idempotent; once it has resolved every
   * other call rejects. The daemon opens a datastore's driver once and closes it when the
   * datastore is deleted and when the daemon stops (core/engine/open-datastores.ts).
   */
  close(): Promise<void>;
}

/** A datastore as its driver sees it: the ID and the single-valued attributes of its template. */
export interface DatastoreAttributes {
  readonly id: number;
  readonly attributes: ReadonlyMap<string, string>;
}

/**
 * A datastore driver by DS_MAD name. `C` is its parsed configuration: parseConfig() reads the
 * datastore's attributes once and throws a OneError naming the datastore and the attribute;
 * open() trusts what it gets.
 */
export interface DatastoreDriverFactory<C = unknown> {
  readonly name: string;
  /** Attributes parseConfig() refuses to do without (as DS_MAD_CONF REQUIRED_ATTRS). */
  readonly requiredAttributes: readonly string[];
  parseConfig(ds: DatastoreAttributes): C;
  /**
   * Where the datastore keeps its data, canonical (for a directory: its real path, symlinks
   * resolved), so a datastore whose storage equals, is inside or holds another's is refused at
   * create and import. Two locations overlap when one equals the other or starts with it and `/`.
   */
  location(config: C): Promise<string>;
  /** The configuration as logs and documents may print it (secrets replaced). */
  redact(config: C): C;
  /**
   * Local paths whose answering tells whether the storage answers (a directory is listed and its
   * filesystem asked for its size, a file has a byte read), from a child process with a time
   * limit: an NFS mount that hangs blocks that process, never the daemon. Drivers without local
   * paths leave it out.
   */
  probePaths?(config: C): readonly string[];
  open(config: C): Promise<DatastoreDriver>;
}
