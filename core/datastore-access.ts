/**
 * What services ask of a datastore's storage outside a backup (a leaf module: the engine
 * implements it in core/engine/datastore-access.ts, the daemon wires it, services call it):
 * where it is, which datastore it belongs to (its identity document), the manifests it holds for
 * `onedatastore import`, and the datastore's encryption key exported or imported under a
 * passphrase. Nothing here is kept between calls.
 */
import { type ChunkIdHash, DEFAULT_CHUNK_ID_HASH, LEGACY_CHUNK_ID_HASH } from './model.js';

/** A datastore's storage as a driver opens it: ID (-1 before it has one), DS_MAD, attributes. */
export interface StorageSettings {
  readonly id: number;
  readonly dsMad: string;
  readonly attributes: ReadonlyMap<string, string>;
}

/** The identity document a datastore's storage carries (`onebackup-datastore.json` for `local`). */
export interface DatastoreIdentity {
  readonly format: 'onebackup-datastore';
  readonly version: number;
  /** Random, made at create; also the datastore's DATASTORE_UUID attribute. */
  readonly uuid: string;
  /** The datastore's ID in the daemon that wrote the document. */
  readonly datastoreId: number;
  /** Epoch seconds. */
  readonly createdAt: number;
  /**
   * How the datastore names its chunks, for its whole life (version 2 on). Absent in documents
   * written before BLAKE3 chunk IDs: those datastores use SHA-256.
   */
  readonly chunkIds?: ChunkIdHash;
}

/** The identity format version this onebackup writes (2: the document names its chunk ID hash). */
export const IDENTITY_VERSION = 2;

/** The identity of a datastore made now: new chunks named with the default hash. */
export function newIdentity(uuid: string, datastoreId: number, createdAt: number): DatastoreIdentity {
  return {
    format: 'onebackup-datastore',
    version: IDENTITY_VERSION,
    uuid,
    datastoreId,
    createdAt,
    chunkIds: DEFAULT_CHUNK_ID_HASH,
  };
}

/** How a datastore with this identity (or none: from before identities) names its chunks. */
export const chunkIdsOf = (identity: DatastoreIdentity | undefined): ChunkIdHash =>
  identity?.chunkIds ?? LEGACY_CHUNK_ID_HASH;

/** The template attribute that holds the UUID of the datastore's identity. */
export const DATASTORE_UUID = 'DATASTORE_UUID';

/** A manifest found in a datastore's storage, as `import` records it. */
export interface FoundManifest {
  readonly path: string;
  readonly vmId: number;
  /** Epoch seconds. */
  readonly createdAt: number;
  readonly sizeBytes: number;
  /** raw when every disk is raw, else qcow2. */
  readonly format: 'raw' | 'qcow2';
  readonly encrypted: boolean;
  /** JSON of the increment's statistics, as a backup records them. */
  readonly stats: string;
  /** The manifest path that began its chain (undefined: written before chains were recorded). */
  readonly chain: string | undefined;
  /** The manifest of the increment before it in its chain (null: the first, or not recorded). */
  readonly parent: string | null;
}

export interface FoundManifests {
  readonly found: FoundManifest[];
  readonly unreadable: { path: string; message: string }[];
  /** Manifests of an encrypted datastore read without its key. */
  readonly locked: number;
}

export interface StorageSurvey {
  readonly identity: DatastoreIdentity | undefined;
  /** No chunk and no manifest. */
  readonly empty: boolean;
}

/** The filesystem holding a datastore's storage, in bytes. */
export interface StorageCapacity {
  readonly totalBytes: number;
  readonly freeBytes: number;
  readonly usedBytes: number;
}

export interface DatastoreAccess {
  /** Canonical location (symlinks resolved), for the overlap check at create and import. */
  location(ds: StorageSettings): Promise<string>;
  /**
   * The filesystem that holds the storage (its driver's statvfs, a remote one included), or
   * undefined when it cannot be asked now (unreachable, or no answer within a few seconds).
   */
  capacity(ds: StorageSettings): Promise<StorageCapacity | undefined>;
  /** The storage's identity, if any, and whether it holds anything. */
  survey(ds: StorageSettings): Promise<StorageSurvey>;
  /** Writes the identity document (create, import). */
  claim(ds: StorageSettings, identity: DatastoreIdentity): Promise<void>;
  /**
   * Every manifest in the storage, authenticated with the key of datastore `keyOf` when given;
   * those that cannot be read or whose integrity fails are listed with why, and encrypted ones
   * read without a key are only counted (`locked`): they cannot be authenticated yet.
   */
  manifests(ds: StorageSettings, keyOf?: number): Promise<FoundManifests>;
  /** The datastore's key wrapped under a passphrase (scrypt, AES-256-GCM), as text. */
  exportKey(datastoreId: number, uuid: string, passphrase: string): Promise<string>;
  /** Unwraps an exported key and installs it as the datastore's key. */
  importKey(datastoreId: number, uuid: string, wrapped: string, passphrase: string): Promise<void>;
}

/** Whether two canonical locations are the same or one holds the other. */
export function locationsOverlap(a: string, b: string): boolean {
  const within = (x: string, y: string) => x === y || x.startsWith(y.endsWith('/') ? y : `${y}/`);
  return within(a, b) || within(b, a);
}
