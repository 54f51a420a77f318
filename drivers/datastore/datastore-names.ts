/**
 * What may name things inside a datastore directory, for every datastore driver (the on-disk
 * format is the same local and over SSH): chunk IDs, manifest paths and the identity file.
 */

/** The identity file at the top of a datastore directory (DATASTORE_UUID, format version). */
export const IDENTITY_FILE = 'onebackup-datastore.json';

const CHUNK_ID = /^[0-9a-f]{64}$/;

export function isChunkId(name: string): boolean {
  return CHUNK_ID.test(name);
}

/** Throws unless `id` is a chunk ID (64 lowercase hex digits). */
export function checkChunkId(id: string): void {
  if (!isChunkId(id)) throw new Error(`invalid chunk id ${JSON.stringify(id)}`);
}

/**
 * Throws unless `path` is a relative manifest path that stays inside the datastore: no empty,
 * `.` or `..` part, no write in progress (`.tmp-`).
 */
export function checkManifestPath(path: string): void {
  if (
    path === '' ||
    path.startsWith('/') ||
    path.split('/').some((p) => p === '..' || p === '.' || p === '' || p.startsWith('.tmp-'))
  )
    throw new Error(`invalid manifest path ${JSON.stringify(path)}`);
}
