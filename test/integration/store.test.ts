import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { openSqliteStore, type Store } from '../../core/store/db.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { checkRollbackAndEmptyLists } from '../support/store.js';

describe('the SQLite store', () => {
  it('opens with WAL, synchronous=FULL and foreign keys, and migrates', async () => {
    const dir = tempDir();
    let again: Store | undefined;
    try {
      const store = await openSqliteStore(join(dir, 'state.db'));
      await store.close();
      const raw = new SQLite(join(dir, 'state.db'));
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const tables = raw.prepare("select name from sqlite_master where type='table'").all() as {
        name: string;
      }[];
      assert.ok(tables.some((t) => t.name === 'backup_jobs'));
      raw.close();
      again = await openSqliteStore(join(dir, 'state.db'));
      const sync = await again.db.selectFrom('pool_ids').selectAll().execute();
      assert.deepEqual(sync, []);
    } finally {
      await again?.close();
      cleanup(dir);
    }
  });

  it('refuses a database migrated by a newer onebackupd', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'state.db');
      await (await openSqliteStore(path)).close();
      const raw = new SQLite(path);
      raw
        .prepare("insert into onebackup_migration (name, timestamp) values ('0099-future', '2030-01-01')")
        .run();
      raw.close();
      await assert.rejects(openSqliteStore(path), /schema version 0099-future is newer than this onebackupd/);
    } finally {
      cleanup(dir);
    }
  });

  it('a failed transaction leaves nothing behind; empty IN lists match nothing', async () => {
    const dir = tempDir();
    let store: Store | undefined;
    try {
      store = await openSqliteStore(join(dir, 'state.db'));
      await checkRollbackAndEmptyLists(store);
    } finally {
      await store?.close();
      cleanup(dir);
    }
  });
});
