/** Which errors that are not OneErrors answer ACTION (the data or a race) and which stay INTERNAL (bugs). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ChunkCorruptError } from '../../../core/engine/chunk-codec.js';
import { asActionError, ErrorCode } from '../../../core/errors.js';
import { PermanentDriverError } from '../../../core/permanent-failure.js';

function sqliteError(run: (db: Database.Database) => void): Error {
  const db = new Database(':memory:');
  try {
    run(db);
  } catch (err) {
    return err as Error;
  } finally {
    db.close();
  }
  throw new Error('the statement did not fail');
}

describe('asActionError', () => {
  it('maps a corrupt chunk, a driver failure, a file error and a missing key to ACTION with their message', () => {
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), {
      code: 'ENOENT',
      syscall: 'open',
    });
    for (const err of [
      new ChunkCorruptError('chunk ab12: GCM authentication failed (corrupt or wrong key)'),
      new PermanentDriverError('disk /x is gone'),
      enoent,
      new Error('datastore 100: encryption key /s/keys/datastore-100.key cannot be read (ENOENT)'),
    ]) {
      const mapped = asActionError(err);
      assert.equal(mapped?.code, ErrorCode.ACTION, err.message);
      assert.equal(mapped.message, err.message);
      assert.equal(mapped.cause, err);
    }
  });

  it('maps a concurrent change in the database (a constraint) to ACTION, asking to retry', () => {
    const err = sqliteError((db) => {
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      db.exec('INSERT INTO t VALUES (1)');
      db.exec('INSERT INTO t VALUES (1)');
    });
    assert.equal(err.name, 'SqliteError');
    const mapped = asActionError(err);
    assert.equal(mapped?.code, ErrorCode.ACTION);
    assert.match(
      mapped.message,
      /^a concurrent change got there first \(UNIQUE constraint failed: t\.id\); read the object again and retry$/,
    );
  });

  it('leaves bugs and other database failures to INTERNAL', () => {
    const syntax = sqliteError((db) => db.exec('SELEKT 1'));
    for (const err of [
      new TypeError("Cannot read properties of undefined (reading 'prepare')"),
      new RangeError('Invalid array length'),
      new Error('dispatch: job 1 VM 2 was neither started nor blocked (bug)'),
      syntax,
      'a string',
      undefined,
    ]) {
      assert.equal(asActionError(err), undefined, String(err));
    }
  });
});
