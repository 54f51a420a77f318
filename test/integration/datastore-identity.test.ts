/** The identity check on a real local datastore, and exported keys (real files, real crypto). */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { checkIdentity } from '../../core/engine/datastore-identity.js';
import { fileKeyStore } from '../../drivers/datastore/keys.js';
import { localDatastore } from '../../drivers/datastore/local.js';
import { cleanup, tempDir } from '../support/daemon.js';

const UUID = '11111111-1111-4111-8111-111111111111';
const ds = (id: number, uuid?: string) => ({
  id,
  attributes: new Map(uuid === undefined ? [] : [['DATASTORE_UUID', uuid]]),
});
const chunk = 'ab'.repeat(32);

it('identity: empty storage is claimed; then only its own UUID passes; storage with backups and no document is refused', async () => {
  const dir = tempDir();
  try {
    const driver = await localDatastore.open({ id: 100, basePath: dir });
    assert.equal(await checkIdentity(driver, ds(100, UUID), 1000), 'blake3');
    const doc = JSON.parse(readFileSync(join(dir, 'onebackup-datastore.json'), 'utf8'));
    assert.deepEqual(doc, {
      format: 'onebackup-datastore',
      version: 2,
      uuid: UUID,
      datastoreId: 100,
      createdAt: 1000,
      chunkIds: 'blake3',
    });
    await driver.putChunk(chunk, Buffer.from('x'));
    assert.equal(await checkIdentity(driver, ds(100, UUID), 2000), 'blake3');
    await assert.rejects(
      checkIdentity(driver, ds(101, '22222222-2222-4222-8222-222222222222'), 2000),
      /belongs to another datastore/,
    );
    // A datastore from before identities: refused only when the document names another ID.
    await checkIdentity(driver, ds(100), 2000);
    await assert.rejects(checkIdentity(driver, ds(105), 2000), /belongs to another datastore/);
    writeFileSync(join(dir, 'onebackup-datastore.json'), '');
    await assert.rejects(checkIdentity(driver, ds(100, UUID), 2000), /not JSON/);
    rmSync(join(dir, 'onebackup-datastore.json'));
    await assert.rejects(
      checkIdentity(driver, ds(100, UUID), 2000),
      /holds backups but no identity document/,
    );
    await driver.deleteChunk(chunk);
    await checkIdentity(driver, ds(100, UUID), 3000);
  } finally {
    cleanup(dir);
  }
});

it('identity: a document from before BLAKE3 (version 1, no chunkIds) keeps SHA-256; an unknown hash or version is refused', async () => {
  const dir = tempDir();
  const identity = join(dir, 'onebackup-datastore.json');
  try {
    const driver = await localDatastore.open({ id: 100, basePath: dir });
    const v1 = { format: 'onebackup-datastore', version: 1, uuid: UUID, datastoreId: 100, createdAt: 1000 };
    writeFileSync(identity, JSON.stringify(v1));
    assert.equal(await checkIdentity(driver, ds(100, UUID), 2000), 'sha256');
    assert.deepEqual(
      JSON.parse(readFileSync(identity, 'utf8')),
      v1,
      'the check leaves the document as it is',
    );
    // A datastore from before identities (no DATASTORE_UUID, no document) is SHA-256 too.
    rmSync(identity);
    assert.equal(await checkIdentity(driver, ds(100), 2000), 'sha256');
    writeFileSync(identity, JSON.stringify({ ...v1, version: 2, chunkIds: 'md5' }));
    await assert.rejects(
      checkIdentity(driver, ds(100, UUID), 2000),
      /names chunk IDs "md5".*upgrade onebackup/,
    );
    writeFileSync(identity, JSON.stringify({ ...v1, version: 3, chunkIds: 'blake3' }));
    await assert.rejects(
      checkIdentity(driver, ds(100, UUID), 2000),
      /version 3 is newer than this onebackup \(2\)/,
    );
  } finally {
    cleanup(dir);
  }
});

it('keys: exported under a passphrase, imported back; wrong passphrase, other datastore and a different key refused', async () => {
  const a = tempDir();
  const b = tempDir();
  try {
    const from = fileKeyStore(a);
    await from.create(100);
    await assert.rejects(from.exportWrapped(100, UUID, 'short'), /too short/);
    const wrapped = await from.exportWrapped(100, UUID, 'a long passphrase');
    const raw = readFileSync(join(a, 'keys', 'datastore-100.key'), 'utf8').trim();
    assert.ok(!wrapped.includes(raw));
    const to = fileKeyStore(b);
    await assert.rejects(to.importWrapped(7, UUID, wrapped, 'a wrong passphrase'), /passphrase is wrong/);
    await assert.rejects(
      to.importWrapped(7, '22222222-2222-4222-8222-222222222222', wrapped, 'a long passphrase'),
      /holds the key of datastore 1111/,
    );
    const tampered = wrapped.replace(/"datastoreUuid": "[^"]+"/, '"datastoreUuid": ""');
    await assert.rejects(to.importWrapped(7, UUID, tampered, 'a long passphrase'), /passphrase is wrong/);
    await to.importWrapped(7, UUID, wrapped, 'a long passphrase');
    await to.importWrapped(7, UUID, wrapped, 'a long passphrase');
    assert.deepEqual(await to.load(7), await from.load(100));
    await to.create(8);
    await assert.rejects(
      to.importWrapped(8, UUID, wrapped, 'a long passphrase'),
      /already has a different encryption key/,
    );
  } finally {
    cleanup(a);
    cleanup(b);
  }
});
