// Runs every compiled test file under dist/test with node's test runner (Node 20 has no globbing).
//
// ONEBACKUP_TEST_DB=postgresql: the store-touching tests again, on PostgreSQL. One throwaway
// cluster (test/support/postgres.ts) serves the run (ONEBACKUP_TEST_PG); each test's store and
// daemon gets a database of its own. Without a filter, only the files that open a store or start
// a daemon run, less those in ONCE: they test other parts (the SQLite worker, hypervisors, power
// cuts, the rsync transport), where the store adds nothing the rest does not cover, or choose their
// stores themselves (postgres-store, several-daemons, readme-daemons).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const ONCE = [
  'postgres-store.test.js',
  'several-daemons.test.js',
  'readme-daemons.test.js',
  'sqlite-worker.test.js',
  'kvm-',
  'power-cut.test.js',
  'record-crash.test.js',
  'rsync-datastore.test.js',
  'fault-campaign.test.js',
  'datastore-hang.test.js',
  'demo.test.js',
];
const onPostgres = (process.env.ONEBACKUP_TEST_DB ?? '').toLowerCase() === 'postgresql';
const touchesStore = (f) => /openTestStore|startDaemon\(/.test(readFileSync(f, 'utf8'));

const filter = process.argv.slice(2);
const files = find('dist/test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .filter((f) => !onPostgres || filter.length > 0 || (touchesStore(f) && !ONCE.some((s) => f.includes(s))))
  .sort();
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
const env = { ...process.env };
let cluster;
if (onPostgres && !env.ONEBACKUP_TEST_PG) {
  const { startPostgres } = await import(new URL('../dist/test/support/postgres.js', import.meta.url).href);
  cluster = await startPostgres();
  const { stop, ...where } = cluster;
  env.ONEBACKUP_TEST_PG = JSON.stringify(where);
  console.log(`# store: PostgreSQL cluster on ${where.host}:${where.port} (${files.length} test files)`);
}
// The runner in a child, awaited asynchronously, so a signal to this process still stops the cluster.
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env,
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
const status = await new Promise((resolve) =>
  child.on('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1))),
);
await cluster?.stop();
process.exit(status);
