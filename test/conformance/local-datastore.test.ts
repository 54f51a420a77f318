import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { localDatastore } from '../../drivers/datastore/local.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { datastoreSuite } from './datastore.js';
import { datastoreLifecycleSuite } from './datastore-lifecycle.js';

datastoreSuite('local', async () => {
  const dir = tempDir();
  return { driver: await localDatastore.open({ id: 100, basePath: dir }), done: async () => cleanup(dir) };
});

datastoreLifecycleSuite('local', async () => {
  const dir = tempDir();
  const base = join(dir, 'ds');
  return {
    factory: localDatastore,
    ds: { id: 100, attributes: new Map([['BASE_PATH', base]]) },
    // A file where the chunk directory should be: ENOTDIR on every chunk, whoever runs the test
    // (permissions would not stop root).
    async breakForGood() {
      rmSync(join(base, 'chunks'), { recursive: true, force: true });
      writeFileSync(join(base, 'chunks'), 'not a directory');
    },
    done: async () => cleanup(dir),
  };
});

it('local: BASE_PATH must be an absolute path', () => {
  assert.throws(
    () => localDatastore.parseConfig({ id: 101, attributes: new Map([['BASE_PATH', 'srv/bk']]) }),
    { message: 'datastore 101 (local): BASE_PATH="srv/bk" must be an absolute path' },
  );
  assert.deepEqual(localDatastore.parseConfig({ id: 101, attributes: new Map([['BASE_PATH', '/srv/bk']]) }), {
    id: 101,
    basePath: '/srv/bk',
    syncLevel: 'filesystem',
  });
});

it('local: SYNC_LEVEL is file, filesystem (the default) or none; anything else is refused naming the attribute and the choices', async () => {
  const config = (level: string) =>
    localDatastore.parseConfig({
      id: 102,
      attributes: new Map([
        ['BASE_PATH', '/srv/bk'],
        ['SYNC_LEVEL', level],
      ]),
    });
  assert.equal(config('file').syncLevel, 'file');
  assert.equal(config('FILESYSTEM').syncLevel, 'filesystem');
  assert.equal(config('none').syncLevel, 'none');
  assert.throws(() => config('fsync'), {
    message: /^datastore 102 \(local\): SYNC_LEVEL="fsync" is not one of file, filesystem, none; /,
  });
  const dir = tempDir();
  try {
    for (const level of ['file', 'filesystem', 'none'] as const) {
      const driver = await localDatastore.open({ id: 102, basePath: join(dir, level), syncLevel: level });
      assert.equal(driver.syncLevel, level);
      await driver.putChunk('ab'.repeat(32), Buffer.from('chunk'));
      await driver.flush();
      assert.deepEqual(await driver.getChunk('ab'.repeat(32)), Buffer.from('chunk'));
      await driver.close();
    }
  } finally {
    cleanup(dir);
  }
});

it('local: no space, quota, permission, read-only and not-a-directory are permanent; not found and I/O errors are retried', async () => {
  const dir = tempDir();
  try {
    const driver = await localDatastore.open({ id: 100, basePath: dir });
    const errno = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR'])
      assert.equal(driver.isPermanent(errno(code)), true, code);
    // A missing path while writing is a concurrent removal or a base not mounted yet.
    for (const code of ['ENOENT', 'EIO', 'EAGAIN', 'EBUSY', 'ETIMEDOUT'])
      assert.equal(driver.isPermanent(errno(code)), false, code);
    await driver.close();
  } finally {
    cleanup(dir);
  }
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
