/**
 * Encryption keys of datastores: 64 random bytes (HMAC key for chunk IDs, then AES-256 key),
 * hex, in `<state dir>/keys/datastore-<id>.key`, mode 0600. Never in the database, the logs or
 * any document. Losing the file loses the backups: the README says to back it up.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkKeys } from '../../core/chunk-keys.js';

export interface KeyStore {
  create(datastoreId: number): Promise<void>;
  load(datastoreId: number): Promise<ChunkKeys>;
}

export function fileKeyStore(stateDir: string): KeyStore {
  const dir = join(stateDir, 'keys');
  const path = (id: number) => join(dir, `datastore-${id}.key`);
  return {
    async create(id) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(path(id), `${randomBytes(64).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    },
    async load(id) {
      let hex: string;
      try {
        hex = (await readFile(path(id), 'utf8')).trim();
      } catch (err) {
        throw new Error(
          `datastore ${id}: encryption key ${path(id)} cannot be read (${(err as NodeJS.ErrnoException).code ?? err}); restore it from your key backup`,
        );
      }
      const bytes = Buffer.from(hex, 'hex');
      if (bytes.length !== 64)
        throw new Error(`datastore ${id}: encryption key ${path(id)} is damaged (expected 128 hex digits)`);
      return { mac: bytes.subarray(0, 32), enc: bytes.subarray(32) };
    },
  };
}
