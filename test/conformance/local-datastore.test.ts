import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { localDatastore } from '../../drivers/datastore/local.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { datastoreSuite } from './datastore.js';

datastoreSuite('local', async () => {
  const dir = tempDir();
  return { driver: await localDatastore.open({ id: 100, basePath: dir }), done: async () => cleanup(dir) };
});

it('local: cleanup removes temp files a crash left behind', async () => {
  const dir = tempDir();
  try {
    const driver = await localDatastore.open({ id: 100, basePath: dir });
    mkdirSync(join(dir, 'chunks', 'ab'), { recursive: true });
    writeFileSync(join(dir, 'chunks', 'ab', '.tmp-123'), 'half');
    mkdirSync(join(dir, 'backups', 'vm'), { recursive: true });
    writeFileSync(join(dir, 'backups', 'vm', '.tmp-456'), 'half');
    assert.deepEqual(await driver.listManifests(''), []);
    assert.equal(await driver.cleanup(), 2);
    assert.equal(await driver.cleanup(), 0);
  } finally {
    cleanup(dir);
  }
});
