/**
 * PostgreSQL as the store, end to end with a real cluster (test/support/postgres.ts): a daemon's
 * state moved from SQLite with `onebackupd db-copy` (refused while the daemon runs, refused into a
 * database that holds state), a daemon on the copy showing the same through the CLI and going on
 * with backups that restore bit for bit; a db-copy into a database in use refused; a wrong
 * password named without being printed; PostgreSQL's constraint errors mapped as SQLite's.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asActionError, ErrorCode } from '../../core/errors.js';
import { backupVm, restoreDisk0, sha256File } from '../support/backups.js';
import {
  type CliResult,
  cleanup,
  cliPath,
  type RunningDaemon,
  runCli,
  startDaemon,
  tempDir,
} from '../support/daemon.js';
import { createDatabase, dbBlock, pgClient, type RunningPg, startPostgres } from '../support/postgres.js';
import { rpcOk } from '../support/rpc.js';

const BASE_CONF = 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\n';
const SQLITE_CONF = `${BASE_CONF}DB = [ BACKEND = "sqlite" ]\n`;

function onebackupd(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath('onebackupd'), ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** What users see of the state, through the CLI (the columns that do not move with the clock). */
async function views(d: RunningDaemon, job: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, args] of [
    ['onevm', ['list']],
    ['oneimage', ['list']],
    ['onehost', ['list']],
    ['onedatastore', ['list']],
    ['oneuser', ['list']],
    ['onebackupjob', ['list']],
    ['onebackupjob', ['show', String(job)]],
    ['onebackupjob', ['runs', String(job)]],
    ['oneimage', ['show', '0', '-x']],
  ] as const) {
    const r = await runCli(name, args, d);
    assert.equal(r.code, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
    // A datastore's size and free space are the host file system's, which moves on its own; a
    // host's FREE and STAT are what this daemon's monitoring found last (kept in memory).
    out[`${name} ${args.join(' ')}`] =
      name === 'onedatastore'
        ? r.stdout.replace(/\d+(\.\d+)?[KMGT]\b/g, '#')
        : name === 'onehost'
          ? r.stdout.replace(/ +(\d+(\.\d+)?[KMGT]) (init|on|err)\s*$/gm, ' # #')
          : r.stdout;
  }
  return out;
}

async function waitRunEnded(d: RunningDaemon, job: number, run: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await runCli('onebackupjob', ['runs', String(job), '-j'], d);
    const runs = (JSON.parse(r.stdout) as { RUNS: { ID: string; END: string; RESULT: string }[] }).RUNS;
    const it = runs.find((x) => x.ID === String(run));
    if (it && it.END !== '0') {
      assert.equal(it.RESULT, 'done', JSON.stringify(runs));
      return;
    }
    assert.ok(Date.now() < deadline, `run ${run} of job ${job} did not end: ${r.stdout}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe('PostgreSQL as the store', () => {
  let pg: RunningPg;
  let work: string;
  before(async () => {
    pg = await startPostgres();
    work = tempDir('onebackup-pgstore-');
  });
  after(async () => {
    await pg?.stop();
    if (work) cleanup(work);
  });

  it('db-copy moves a SQLite daemon to PostgreSQL: same views, and backups and restores go on', async () => {
    const stateDir = join(work, 'state');
    mkdirSync(stateDir);
    // vm-0 in a job, vm-1 backed up by hand.
    const disks = [join(work, 'vm0.raw'), join(work, 'vm1.raw')] as const;
    for (const disk of disks) writeFileSync(disk, randomBytes(3 * 1024 * 1024));
    let d = await startDaemon({ stateDir, conf: SQLITE_CONF });
    let job: number;
    let before: Record<string, string>;
    const database = await createDatabase(pg, 'copy');
    const pgConf = join(work, 'pg.conf');
    writeFileSync(pgConf, `STATE_DIR = "${stateDir}"\n${dbBlock(pg, database)}`);
    try {
      await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
      await rpcOk(d, 'one.datastore.allocate', `NAME = "backups"\nBASE_PATH = "${join(work, 'ds')}"\n`);
      for (const [i, disk] of disks.entries()) {
        await rpcOk(
          d,
          'one.vm.allocate',
          `NAME = "vm-${i}"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
        );
      }
      const image = await backupVm(d, 1, 100);
      assert.equal(image, '0');
      const created = await runCli('onebackupjob', ['create'], d, {
        input: 'NAME = "nightly"\nBACKUP_VMS = "0"\nDATASTORE_ID = 100\nMODE = "INCREMENT"\n',
      });
      assert.equal(created.code, 0, created.stderr);
      job = Number(created.stdout.trim().split(' ')[1]);
      assert.equal((await runCli('onebackupjob', ['backup', String(job)], d)).code, 0);
      await waitRunEnded(d, job, 1);
      before = await views(d, job);
      assert.match(before['onebackupjob runs 0'] ?? '', /done/);

      // Refused while the daemon runs on the source.
      const busy = await onebackupd(['db-copy', '--from', join(stateDir, 'onebackup.db'), '--to', pgConf]);
      assert.equal(busy.code, 255, busy.stdout);
      assert.match(
        busy.stderr,
        new RegExp(`in use by onebackupd PID ${d.child.pid}.*stop that daemon first`),
      );
    } finally {
      await d.stop();
    }

    const copied = await onebackupd(['db-copy', '--from', join(stateDir, 'onebackup.db'), '--to', pgConf]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /^TABLE +SOURCE +TARGET\n/);
    assert.match(copied.stdout, /\nimages +2 +2\n/);
    assert.match(copied.stdout, /\njob_runs +1 +1\n/);
    assert.match(
      copied.stdout,
      new RegExp(`to postgresql://onebackup@127\\.0\\.0\\.1:${pg.port}/${database}; every count matches\\n$`),
    );
    assert.doesNotMatch(copied.stdout + copied.stderr, new RegExp(pg.password));
    // A target that holds state is refused, unless told to replace it.
    const again = await onebackupd(['db-copy', '--from', join(stateDir, 'onebackup.db'), '--to', pgConf]);
    assert.equal(again.code, 255);
    assert.match(
      again.stderr,
      /already holds state \(pool_ids: \d+, groups: \d+, users: \d+.*pass --replace/,
    );
    const replaced = await onebackupd([
      'db-copy',
      '--from',
      join(stateDir, 'onebackup.db'),
      '--to',
      pgConf,
      '--replace',
    ]);
    assert.equal(replaced.code, 0, replaced.stderr);

    d = await startDaemon({ stateDir, conf: `${BASE_CONF}${dbBlock(pg, database)}` });
    try {
      assert.match(
        d.logs(),
        new RegExp(`msg=started .*db=postgresql://onebackup@127\\.0\\.0\\.1:${pg.port}/${database}`),
      );
      assert.doesNotMatch(d.logs(), new RegExp(pg.password));
      assert.deepEqual(await views(d, job), before);
      // The daemon on PostgreSQL goes on: a manual backup and the job's next run, each restoring bit for bit.
      const image = await backupVm(d, 1, 100);
      assert.equal(image, '2', 'image IDs go on from the copied pool');
      assert.equal((await runCli('onebackupjob', ['backup', String(job)], d)).code, 0);
      await waitRunEnded(d, job, 2);
      for (const [id, disk] of [
        ['0', disks[1]],
        ['1', disks[0]],
        ['2', disks[1]],
      ] as const) {
        const restored = await restoreDisk0(d, id);
        assert.equal(restored.code, 0, restored.stderr);
        assert.equal(restored.sha, sha256File(disk), `image ${id}`);
      }
      // The job's image (1) got the second run's increment.
      const increments = await runCli('oneimage', ['show', '1', '-x'], d);
      assert.equal([...increments.stdout.matchAll(/<INCREMENT>/g)].length, 2, increments.stdout);
    } finally {
      await d.stop();
    }
  });

  it('db-copy into a database daemons run on is refused, naming one of them', async () => {
    const database = await createDatabase(pg, 'two');
    const first = await startDaemon({ conf: `${BASE_CONF}${dbBlock(pg, database)}` });
    const stateDir = tempDir();
    try {
      writeFileSync(join(stateDir, 'c.conf'), `${BASE_CONF}${dbBlock(pg, database)}`);
      writeFileSync(join(stateDir, 'from.conf'), `${SQLITE_CONF}STATE_DIR = "${stateDir}"\n`);
      const r = await onebackupd([
        'db-copy',
        '--from',
        join(stateDir, 'from.conf'),
        '--to',
        join(stateDir, 'c.conf'),
        '--replace',
      ]);
      assert.equal(r.code, 255);
      assert.match(
        r.stderr,
        new RegExp(
          `state database postgresql://onebackup@127\\.0\\.0\\.1:${pg.port}/${database} is in use by onebackupd ${first.child.pid} on .*stop every onebackupd on it first`,
        ),
      );
    } finally {
      await first.stop();
      cleanup(first.stateDir);
      cleanup(stateDir);
    }
  });

  it('a wrong password: the daemon names the database and what to check, never the password', async () => {
    const database = await createDatabase(pg, 'pw');
    const stateDir = tempDir();
    const secret = 'not-the-password-4f1c';
    try {
      const conf = join(stateDir, 'c.conf');
      writeFileSync(conf, `${BASE_CONF}${dbBlock(pg, database).replace(pg.password, secret)}`);
      const shown = await onebackupd(['--config', conf, '--check-config']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /"password": "\*\*redacted\*\*"/);
      assert.doesNotMatch(shown.stdout, new RegExp(secret));
      const r = await onebackupd(['--config', conf, '--state-dir', stateDir, '--listen', '127.0.0.1:0']);
      assert.equal(r.code, 255);
      assert.match(
        r.stderr,
        new RegExp(
          `state database postgresql://onebackup@127\\.0\\.0\\.1:${pg.port}/${database}: cannot connect: password authentication failed for user "onebackup"; check DB = \\[ SERVER, PORT, USER, PASSWD, DB_NAME \\]`,
        ),
      );
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(secret));
    } finally {
      cleanup(stateDir);
    }
  });

  it("PostgreSQL's constraint errors are a concurrent change (ACTION), as SQLite's", async () => {
    const client = pgClient(pg);
    await client.connect();
    try {
      await client.query('create temporary table t (id integer primary key)');
      await client.query('insert into t values (1)');
      const err = await client.query('insert into t values (1)').then(
        () => assert.fail('a duplicate key was accepted'),
        (e: unknown) => e,
      );
      const mapped = asActionError(err);
      assert.equal(mapped?.code, ErrorCode.ACTION);
      assert.match(
        mapped.message,
        /^a concurrent change got there first \(duplicate key value violates unique constraint "t_pkey"\); read the object again and retry$/,
      );
      const syntax = await client.query('selekt 1').then(
        () => assert.fail('bad SQL ran'),
        (e: unknown) => e,
      );
      assert.equal(asActionError(syntax), undefined, 'a bug stays INTERNAL');
    } finally {
      await client.end();
    }
  });
});
