/**
 * A throwaway PostgreSQL cluster for tests (Debian's postgresql, 15 here): initdb into a temporary
 * directory, postgres listening on a unix socket in that directory and on a free loopback port,
 * stopped (and its directory removed) by stop(). Run as root, initdb and postgres refuse: the
 * cluster then belongs to the `postgres` system user (runuser). Local socket connections are
 * trusted; TCP connections need the password (scram-sha-256), so a daemon's DB/PASSWD is used for
 * real. Durability is off (fsync, full_page_writes): the cluster lives only as long as the tests.
 *
 * State: the cluster's directory and port. With ONEBACKUP_TEST_DB=postgresql, test/run.mjs starts
 * one cluster for the whole run and passes it on in ONEBACKUP_TEST_PG (JSON of PgCluster), and the
 * store and daemon factories (test/support/store.ts, daemon.ts) make one database per test in it.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './sshd.js';

/** Debian's newest installed PostgreSQL (/usr/lib/postgresql/<major>/bin). */
function postgresBin(): string | undefined {
  let majors: string[] = [];
  try {
    majors = readdirSync('/usr/lib/postgresql').filter((m) => /^\d+$/.test(m));
  } catch {
    return undefined;
  }
  return majors
    .sort((a, b) => Number(b) - Number(a))
    .map((m) => join('/usr/lib/postgresql', m, 'bin'))
    .find((d) => existsSync(join(d, 'initdb')));
}

const BIN = postgresBin();

/** Where a cluster answers and as whom (a superuser). */
export interface PgCluster {
  /** The socket directory. */
  readonly socketDir: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly dir: string;
}

export interface RunningPg extends PgCluster {
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program as the user that owns the cluster. */
function pgRun(program: string, args: readonly string[]): string {
  if (!BIN) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const cmd = join(BIN, program);
  return asRoot
    ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8', stdio: 'pipe' })
    : execFileSync(cmd, [...args], { encoding: 'utf8', stdio: 'pipe' });
}

/** Starts a new cluster; stop() stops it and removes its files. */
export async function startPostgres(): Promise<RunningPg> {
  const dir = mkdtempSync(join(tmpdir(), 'onebackup-pg-'));
  const data = join(dir, 'data');
  const user = 'onebackup';
  const password = 'test-password';
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  chmodSync(dir, 0o755);
  pgRun('initdb', [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  const host = '127.0.0.1';
  const port = await freePort(host);
  const options = [
    `-c listen_addresses=${host}`,
    `-p ${port}`,
    `-k ${dir}`,
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c synchronous_commit=off',
    '-c max_connections=300',
  ].join(' ');
  try {
    pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    socketDir: dir,
    host,
    port,
    user,
    password,
    dir,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A client of `database` as the superuser, over the socket. */
export function pgClient(cluster: PgCluster, database = 'postgres'): pg.Client {
  return new pg.Client({ host: cluster.socketDir, port: cluster.port, user: cluster.user, database });
}

let counter = 0;

/** Creates an empty database in the cluster and returns its name. */
export async function createDatabase(cluster: PgCluster, prefix = 't'): Promise<string> {
  counter += 1;
  const name = `${prefix}_${process.pid}_${counter}_${Date.now().toString(36)}`;
  const client = pgClient(cluster);
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  return name;
}

/**
 * The daemon configuration's DB block that reaches `database` over TCP with the password
 * (`port`: another port that forwards to the cluster's, such as a test's TCP proxy).
 */
export function dbBlock(
  cluster: PgCluster,
  database: string,
  connections = 4,
  extra: { lease?: number; port?: number } = {},
): string {
  return (
    `DB = [ BACKEND = "postgresql", SERVER = "${cluster.host}", PORT = ${extra.port ?? cluster.port}, ` +
    `USER = "${cluster.user}", PASSWD = "${cluster.password}", DB_NAME = "${database}", CONNECTIONS = ${connections}` +
    `${extra.lease !== undefined ? `, LEASE = ${extra.lease}` : ''} ]\n`
  );
}

/** The cluster test/run.mjs started for this run (ONEBACKUP_TEST_PG), if any. */
export function sharedCluster(env = process.env): PgCluster | undefined {
  const text = env['ONEBACKUP_TEST_PG'];
  return text ? (JSON.parse(text) as PgCluster) : undefined;
}

let ownCluster: Promise<RunningPg> | undefined;

/**
 * The cluster for tests run on PostgreSQL: test/run.mjs's, or (a test file run alone) one started
 * for this process and stopped when it exits.
 */
export function testCluster(): Promise<PgCluster> {
  const shared = sharedCluster();
  if (shared) return Promise.resolve(shared);
  if (!ownCluster) {
    ownCluster = startPostgres();
    void ownCluster.then((c) => process.once('exit', () => void c.stop()));
  }
  return ownCluster;
}

/**
 * The DB block for a daemon whose state is in `stateDir`, when this run's tests are on
 * PostgreSQL ('' on SQLite): one database per state directory (kept in a file there), so a daemon
 * restarted on the same directory finds its state.
 */
export async function testDbBlock(stateDir: string): Promise<string> {
  if (!testsOnPostgres()) return '';
  const cluster = await testCluster();
  const file = join(stateDir, 'test-pg-database');
  let name: string;
  try {
    name = readFileSync(file, 'utf8').trim();
  } catch {
    name = await createDatabase(cluster);
    writeFileSync(file, name);
  }
  return dbBlock(cluster, name);
}

/** True when this run's store-touching tests run on PostgreSQL (ONEBACKUP_TEST_DB=postgresql). */
export function testsOnPostgres(env = process.env): boolean {
  return (env['ONEBACKUP_TEST_DB'] ?? 'sqlite').toLowerCase() === 'postgresql';
}
