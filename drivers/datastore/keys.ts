/**
 * Encryption keys of datastores: 64 random bytes (HMAC key for chunk IDs, then AES-256 key),
 * hex, in `<state dir>/keys/datastore-<id>.key`, mode 0600. Never in the database, the logs or
 * any document. Losing the file loses the backups: `onedatastore key-export` writes a copy wrapped
 * under a passphrase (scrypt, then AES-256-GCM with the datastore's UUID as associated data), and
 * `onedatastore key-import` installs it again (README, "Lost the server").
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkKeys } from '../../core/chunk-keys.js';

export interface KeyStore {
  create(datastoreId: number): Promise<void>;
  load(datastoreId: number): Promise<ChunkKeys>;
  /** The key wrapped under `passphrase`, bound to the datastore's UUID, as JSON text. */
  exportWrapped(datastoreId: number, uuid: string, passphrase: string): Promise<string>;
  /**
   * Unwraps `wrapped` and installs it as the datastore's key. Refuses a wrong passphrase, a key
   * of another datastore, and a different key already installed.
   */
  importWrapped(datastoreId: number, uuid: string, wrapped: string, passphrase: string): Promise<void>;
}

const WRAP_FORMAT = 'onebackup-datastore-key';
const KDF = { N: 2 ** 15, r: 8, p: 1 } as const;
export const MIN_PASSPHRASE = 8;

interface WrappedKey {
  readonly format: typeof WRAP_FORMAT;
  readonly version: 1;
  readonly datastoreUuid: string;
  readonly kdf: {
    readonly name: 'scrypt';
    readonly N: number;
    readonly r: number;
    readonly p: number;
    readonly salt: string;
  };
  readonly cipher: 'aes-256-gcm';
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

function deriveKey(
  passphrase: string,
  salt: Buffer,
  kdf: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, salt, 32, { ...kdf, maxmem: 256 * kdf.N * kdf.r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

const aad = (uuid: string) => Buffer.from(`${WRAP_FORMAT}:1:${uuid}`);

function checkPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE)
    throw new Error(`the passphrase is too short: give at least ${MIN_PASSPHRASE} characters`);
}

export function fileKeyStore(stateDir: string): KeyStore {
  const dir = join(stateDir, 'keys');
  const path = (id: number) => join(dir, `datastore-${id}.key`);
  const readHex = async (id: number): Promise<string> => {
    try {
      return (await readFile(path(id), 'utf8')).trim();
    } catch (err) {
      throw new Error(
        `datastore ${id}: encryption key ${path(id)} cannot be read (${(err as NodeJS.ErrnoException).code ?? err}); install it from your key backup with onedatastore key-import ${id} FILE`,
      );
    }
  };
  const store: KeyStore = {
    async create(id) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(path(id), `${randomBytes(64).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    },
    async load(id) {
      const bytes = Buffer.from(await readHex(id), 'hex');
      if (bytes.length !== 64)
        throw new Error(`datastore ${id}: encryption key ${path(id)} is damaged (expected 128 hex digits)`);
      return { mac: bytes.subarray(0, 32), enc: bytes.subarray(32) };
    },
    async exportWrapped(id, uuid, passphrase) {
      checkPassphrase(passphrase);
      const keys = await store.load(id);
      const salt = randomBytes(16);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, KDF), iv);
      cipher.setAAD(aad(uuid));
      const data = Buffer.concat([cipher.update(Buffer.concat([keys.mac, keys.enc])), cipher.final()]);
      const wrapped: WrappedKey = {
        format: WRAP_FORMAT,
        version: 1,
        datastoreUuid: uuid,
        kdf: { name: 'scrypt', ...KDF, salt: salt.toString('hex') },
        cipher: 'aes-256-gcm',
        iv: iv.toString('hex'),
        tag: cipher.getAuthTag().toString('hex'),
        data: data.toString('hex'),
      };
      return `${JSON.stringify(wrapped, null, 1)}\n`;
    },
    async importWrapped(id, uuid, text, passphrase) {
      let w: WrappedKey;
      try {
        w = JSON.parse(text) as WrappedKey;
      } catch {
        throw new Error('the key file is not an exported datastore key (not JSON)');
      }
      if (w?.format !== WRAP_FORMAT || w.version !== 1 || w.kdf?.name !== 'scrypt')
        throw new Error('the key file is not an exported datastore key (onedatastore key-export writes one)');
      // A key exported from a datastore made before identities is bound to no UUID ('').
      if (w.datastoreUuid !== uuid && w.datastoreUuid !== '')
        throw new Error(
          `the key file holds the key of datastore ${w.datastoreUuid}, not of datastore ${id} (DATASTORE_UUID ${uuid})`,
        );
      const { N, r, p } = w.kdf;
      if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16)
        throw new Error('the key file has scrypt parameters out of range');
      let bytes: Buffer;
      try {
        const key = await deriveKey(passphrase, Buffer.from(w.kdf.salt, 'hex'), { N, r, p });
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(w.iv, 'hex'));
        decipher.setAAD(aad(w.datastoreUuid));
        decipher.setAuthTag(Buffer.from(w.tag, 'hex'));
        bytes = Buffer.concat([decipher.update(Buffer.from(w.data, 'hex')), decipher.final()]);
      } catch {
        throw new Error('the passphrase is wrong or the key file is damaged: the key cannot be unwrapped');
      }
      if (bytes.length !== 64) throw new Error('the key file is damaged (the key is not 64 bytes)');
      const hex = bytes.toString('hex');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        await writeFile(path(id), `${hex}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if ((await readHex(id)) !== hex)
          throw new Error(
            `datastore ${id} already has a different encryption key (${path(id)}); move it away first if the imported one is right`,
          );
      }
    },
  };
  return store;
}
