/**
 * README's three-daemon setup ("Several daemons on one PostgreSQL"), run as written with the real
 * `onebackupd` and CLIs on PATH against a real PostgreSQL cluster: only the DB line's SERVER, PORT
 * and PASSWD are the test cluster's and HOME is a temporary directory. Checks what the block says:
 * three daemons up, one state (a host made through the first is listed by the third), /health
 * naming a leader with three alive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, cliBin, REPO, tempDir } from '../support/daemon.js';
import { createDatabase, type RunningPg, startPostgres } from '../support/postgres.js';

const CLIS = ['onebackupd', 'onehost', 'onedatastore'];

function block(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const from = readme.indexOf('### Several daemons on one PostgreSQL');
  assert.ok(from >= 0, 'README has the section');
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(from));
  assert.ok(m?.[1], 'the section has its sh block');
  return m[1];
}

describe("README's three-daemon setup", () => {
  let pg: RunningPg;
  let home: string;
  before(async () => {
    pg = await startPostgres();
    home = tempDir('onebackup-readme-daemons-');
  });
  after(async () => {
    for (const n of [1, 2, 3]) {
      const pidFile = join(home, `onebackup-${n}`, 'onebackupd.pid');
      if (existsSync(pidFile)) {
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await pg?.stop();
    cleanup(home);
  });

  it('runs as written: three daemons on one database, one state, a leader and three alive', async () => {
    const database = await createDatabase(pg, 'readme');
    const bin = cliBin(home, CLIS);
    const script = block()
      .replace('SERVER = "localhost", PORT = 5432', `SERVER = "${pg.host}", PORT = ${pg.port}`)
      .replace(
        'PASSWD = "change-me", DB_NAME = "onebackup"',
        `PASSWD = "${pg.password}", DB_NAME = "${database}"`,
      );
    assert.notEqual(script, block(), 'the DB line was found and pointed at the test cluster');
    const r = spawnSync('sh', ['-e', '-c', script], {
      env: { PATH: `${bin}:${process.env['PATH']}`, HOME: home, TZ: 'UTC' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\n\s*0 node1 /, 'the third daemon lists the host made through the first');
    const health = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as {
      status: string;
      daemons: { leader: string; alive: number };
    };
    assert.equal(health.status, 'ok');
    assert.equal(health.daemons.alive, 3);
    assert.match(health.daemons.leader, /^onebackupd \d+ on /);
  });
});
