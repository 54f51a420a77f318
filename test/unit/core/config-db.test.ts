/** onebackupd.conf's DB = [ ... ]: SQLite (the default) or PostgreSQL, as oned.conf spells it; each mistake named. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { loadConfig } from '../../../core/config.js';

const PG =
  'DB = [ BACKEND = "postgresql", SERVER = "db1", PORT = 6432, USER = "onebackup", PASSWD = "s3cret-pw", DB_NAME = "ob", CONNECTIONS = 20 ]\n';

/** The messages a configuration is refused with, one a line. */
function problems(text: string): string {
  try {
    loadConfig(text, 'x.conf', { stateDir: '/st' });
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`accepted: ${text}`);
}

describe('onebackupd.conf DB', () => {
  it('SQLite by default, in STATE_DIR; PATH relative to it or absolute', () => {
    assert.deepEqual(loadConfig('', 'x.conf', { stateDir: '/st' }).db, {
      backend: 'sqlite',
      path: '/st/onebackup.db',
    });
    assert.deepEqual(
      loadConfig('DB = [ BACKEND = "SQLite", PATH = "a/b.db" ]', 'x.conf', { stateDir: '/st' }).db,
      {
        backend: 'sqlite',
        path: '/st/a/b.db',
      },
    );
    assert.deepEqual(loadConfig('DB = [ PATH = "/x/y.db" ]', 'x.conf', { stateDir: '/st' }).db, {
      backend: 'sqlite',
      path: '/x/y.db',
    });
  });

  it('PostgreSQL with every attribute; defaults for PORT (0 too) and CONNECTIONS', () => {
    const c = loadConfig(PG, 'x.conf').db;
    assert.equal(c.backend, 'postgresql');
    if (c.backend !== 'postgresql') return;
    assert.deepEqual(
      [c.server, c.port, c.user, c.password?.reveal(), c.database, c.connections],
      ['db1', 6432, 'onebackup', 's3cret-pw', 'ob', 20],
    );
    const d = loadConfig(
      'DB = [ BACKEND = "postgresql", SERVER = "/run/postgresql", PORT = 0, USER = "u", DB_NAME = "n" ]',
      'x.conf',
    ).db;
    assert.ok(d.backend === 'postgresql');
    assert.deepEqual([d.port, d.connections, d.password], [5432, 10, undefined]);
  });

  it('PASSWD never prints: JSON (--check-config), inspection (logs), strings', () => {
    const c = loadConfig(PG, 'x.conf');
    for (const text of [
      JSON.stringify(c),
      inspect(c, { depth: 5 }),
      `${c.db.backend === 'postgresql' && c.db.password}`,
    ]) {
      assert.doesNotMatch(text, /s3cret-pw/);
    }
    assert.match(JSON.stringify(c), /"password":"\*\*redacted\*\*"/);
  });

  it('names the attribute, why, and the fix', () => {
    assert.equal(
      problems('DB = [ BACKEND = "mysql" ]\n'),
      'x.conf line 1, col 1 (DB): DB/BACKEND = "mysql" is not supported; use "sqlite" (the default) or "postgresql"',
    );
    assert.equal(
      problems('DB = "postgresql"\n'),
      'x.conf line 1, col 1 (DB): DB is a vector: DB = [ BACKEND = "sqlite", PATH = "onebackup.db" ] or ' +
        'DB = [ BACKEND = "postgresql", SERVER = "db.example", PORT = 5432, USER = "onebackup", PASSWD = "...", DB_NAME = "onebackup", CONNECTIONS = 10 ]',
    );
    const missing = problems('\nDB = [ BACKEND = "postgresql", SERVER = "db1" ]\n');
    assert.match(
      missing,
      /^x\.conf line 2, col 1 \(DB\): DB\/USER is required with BACKEND = "postgresql": DB = \[ BACKEND = "postgresql", SERVER/,
    );
    assert.match(
      missing,
      /\nx\.conf line 2, col 1 \(DB\): DB\/DB_NAME is required with BACKEND = "postgresql"/,
    );
    assert.equal(
      problems(
        'DB = [ BACKEND = "postgresql", SERVER = "h", USER = "u", DB_NAME = "n", PORT = "x", CONNECTIONS = 0 ]',
      ),
      'x.conf line 1, col 1 (DB): DB/PORT = "x" is not a whole number in 0-65535\n' +
        'x.conf line 1, col 1 (DB): DB/CONNECTIONS = "0" is not a whole number in 1-1000',
    );
    assert.equal(
      problems('DB = [ BACKEND = "postgresql", SERVER = "h", USER = "u", DB_NAME = "n", PATH = "a.db" ]'),
      'x.conf line 1, col 1 (DB): DB/PATH is a SQLite option, but DB/BACKEND = "postgresql"; remove PATH or set BACKEND = "sqlite"',
    );
    assert.equal(
      problems('DB = [ SERVER = "h" ]'),
      'x.conf line 1, col 1 (DB): DB/SERVER is a PostgreSQL option, but DB/BACKEND = "sqlite"; remove SERVER or set BACKEND = "postgresql"',
    );
    assert.equal(
      problems('DB = [ BACKEND = "postgresql", SERVER = "h", USER = "u", DB_NAME = "n", TIMEOUT = 5 ]'),
      'x.conf line 1, col 1 (DB): DB/TIMEOUT is not a known DB option for BACKEND = "postgresql" (BACKEND, SERVER, PORT, USER, PASSWD, DB_NAME, CONNECTIONS, LEASE)',
    );
  });
});
