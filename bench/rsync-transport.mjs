// Transports for the rsync datastore, measured against a real sshd on loopback (issue 12):
//   sftp      the driver: one `ssh -s sftp` session per datastore, requests pipelined
//   mux-exec  a process per chunk over one ControlMaster connection (`ssh -S ctl host cmd`)
//   exec      a process per chunk, a new SSH connection each (no ControlMaster)
//   rsync     `rsync -e 'ssh -S ctl'` per chunk over the ControlMaster connection
//   shell     hasChunk only: one remote `sh` loop reading IDs on stdin (an agent's best case)
// Prints put/get MiB/s for 4 MiB chunks and hasChunk cost per chunk.
// Usage: npm run bench:rsync [-- --chunks 48]
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const { tempDir, cleanup } = await import(join(DIST, 'test/support/daemon.js'));
const { startSshd } = await import(join(DIST, 'test/support/sshd.js'));
const { rsyncDatastore } = await import(join(DIST, 'drivers/datastore/rsync.js'));
const { sshSubsystemArgs } = await import(join(DIST, 'drivers/ssh.js'));
const { localDatastore } = await import(join(DIST, 'drivers/datastore/local.js'));

const run = promisify(execFile);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CHUNKS = arg('chunks', 48);
const CHUNK = 4 * 1024 * 1024;
const idOf = (b) => createHash('sha256').update(b).digest('hex');
const mibps = (bytes, ms) => (bytes / 1048576 / (ms / 1000)).toFixed(0);

async function timed(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const root = tempDir('onebackup-bench-rsync-');
const sshd = await startSshd(root);
const chunks = Array.from({ length: CHUNKS }, () => randomBytes(CHUNK));
const ids = chunks.map(idOf);
const absent = Array.from({ length: 10000 }, () => idOf(randomBytes(8)));
const rows = [];
try {
  // The local driver on the same disk, for reference.
  const l = await localDatastore.open({ id: 2, basePath: join(root, 'local-ds') });
  const lput = await timed(() => pool(chunks, 8, (c) => l.putChunk(idOf(c), c)));
  const lget = await timed(() => pool(ids, 8, (id) => l.getChunk(id)));
  const lhas = await timed(() => pool(absent, 64, (id) => l.hasChunk(id)));
  await l.close();
  rows.push({
    transport: 'local (reference)',
    put: mibps(CHUNKS * CHUNK, lput),
    get: mibps(CHUNKS * CHUNK, lget),
    has: `${((lhas / absent.length) * 1000).toFixed(1)} µs (64 at once)`,
  });
  // The driver: one SFTP session.
  const config = rsyncDatastore.parseConfig({
    id: 1,
    attributes: new Map(
      Object.entries({
        RSYNC_HOST: sshd.host,
        SSH_PORT: String(sshd.port),
        SSH_KEY: sshd.clientKey,
        SSH_KNOWN_HOSTS: sshd.knownHosts,
        BASE_PATH: join(root, 'sftp'),
      }),
    ),
  });
  const d = await rsyncDatastore.open(config);
  const put = await timed(() => pool(chunks, 8, (c) => d.putChunk(idOf(c), c)));
  const get = await timed(() => pool(ids, 8, (id) => d.getChunk(id)));
  const has = await timed(() => Promise.all([...ids, ...absent].map((id) => d.hasChunk(id))));
  const has64 = await timed(() => pool(absent, 64, (id) => d.hasChunk(id)));
  const has1 = await timed(() => pool(absent.slice(0, 2000), 1, (id) => d.hasChunk(id)));
  await d.close();
  rows.push({
    transport: 'sftp (driver)',
    put: mibps(CHUNKS * CHUNK, put),
    get: mibps(CHUNKS * CHUNK, get),
    has: `${((has / (ids.length + absent.length)) * 1000).toFixed(1)} µs (all at once), ${((has64 / absent.length) * 1000).toFixed(1)} µs (64 at once), ${((has1 / 2000) * 1000).toFixed(0)} µs (one at a time)`,
  });

  // A process per chunk.
  const base = join(root, 'exec');
  mkdirSync(base, { recursive: true });
  const t = sshSubsystemArgs(config.target, 'x').slice(0, -4); // the options, without -s -- host x
  const ctl = join(root, 'ctl');
  const viaCtl = t.map((a) => (a === 'ControlPath=none' ? `ControlPath=${ctl}` : a));
  const master = spawn('ssh', [...viaCtl, '-M', '-N', '--', sshd.host], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await run('ssh', [...viaCtl, '-O', 'check', '--', sshd.host]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const mux = [...viaCtl, '--', sshd.host];
  const sshIn = (args, input) =>
    new Promise((resolve, reject) => {
      const c = spawn('ssh', args, { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (b) => (err += b));
      c.stdin.on('error', () => {});
      c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ssh exited ${code}: ${err}`))));
      c.stdin.end(input);
    });
  const sub = chunks.slice(0, 16);
  const putMux = await timed(() =>
    pool(sub, 8, (c) =>
      sshIn([...mux, `cat > ${base}/.tmp-${idOf(c)} && mv ${base}/.tmp-${idOf(c)} ${base}/${idOf(c)}`], c),
    ),
  );
  const getMux = await timed(() =>
    pool(sub, 8, (c) =>
      run('ssh', [...mux, `cat ${base}/${idOf(c)}`], { encoding: 'buffer', maxBuffer: 2 * CHUNK }),
    ),
  );
  const hasMux = await timed(() =>
    pool(absent.slice(0, 400), 8, (id) => run('ssh', [...mux, `test -e ${base}/${id} || true`])),
  );
  rows.push({
    transport: 'process per chunk, ControlMaster',
    put: mibps(sub.length * CHUNK, putMux),
    get: mibps(sub.length * CHUNK, getMux),
    has: `${((hasMux / 400) * 1000).toFixed(0)} µs (8 at once)`,
  });
  const plain = [...t, '--', sshd.host];
  const hasExec = await timed(() =>
    pool(absent.slice(0, 40), 8, (id) => run('ssh', [...plain, `test -e ${base}/${id} || true`])),
  );
  rows.push({
    transport: 'process per chunk, new connection',
    put: '-',
    get: '-',
    has: `${((hasExec / 40) * 1000).toFixed(0)} µs (8 at once)`,
  });
  const rsh = ['ssh', ...viaCtl].join(' ');
  const { writeFileSync } = await import('node:fs');
  const local = join(root, 'local');
  mkdirSync(local, { recursive: true });
  for (const c of sub) writeFileSync(join(local, idOf(c)), c);
  const putRsync = await timed(() =>
    pool(sub, 8, (c) => run('rsync', ['-e', rsh, join(local, idOf(c)), `${sshd.host}:${base}/r-${idOf(c)}`])),
  );
  rows.push({
    transport: 'rsync per chunk, ControlMaster',
    put: mibps(sub.length * CHUNK, putRsync),
    get: '-',
    has: '-',
  });
  const hasShell = await timed(
    () =>
      new Promise((resolve, reject) => {
        const c = spawn(
          'ssh',
          [...mux, `cd ${base} && while read id; do test -e "$id" && echo 1 || echo 0; done`],
          {
            stdio: ['pipe', 'pipe', 'ignore'],
          },
        );
        let lines = 0;
        c.stdout.on('data', (b) => (lines += b.toString().split('\n').length - 1));
        c.on('close', () => (lines === absent.length ? resolve() : reject(new Error(`${lines} answers`))));
        c.stdin.end(`${absent.join('\n')}\n`);
      }),
  );
  rows.push({
    transport: 'one remote sh loop (IDs on stdin)',
    put: '-',
    get: '-',
    has: `${((hasShell / absent.length) * 1000).toFixed(1)} µs (streamed)`,
  });
  master.kill();
} finally {
  await sshd.stop();
  cleanup(root);
}
console.log(`chunks of 4 MiB: ${CHUNKS} (sftp), 16 (others); hasChunk: ${absent.length} absent IDs`);
console.table(rows);
