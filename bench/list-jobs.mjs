// npm run bench:scheduler (second part; runs from dist/): `onebackupjob list` of 1,000 jobs end to
// end. Starts a real onebackupd on a temporary state directory, creates 100 hosts, 1,000 VMs and
// 1,000 jobs through XML-RPC, then times the CLI as a user runs it (a new node process each time),
// the one.backupjobpool.info call alone, and `node -e ''` as the reference measured in the same
// run. Medians of 7 runs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startDaemon } from './xmlrpc-call.mjs';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const HOSTS = 100;
const RUNS = 7;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function rpcBody(method, params) {
  const value = (v) =>
    typeof v === 'number'
      ? `<int>${v}</int>`
      : typeof v === 'boolean'
        ? `<boolean>${v ? 1 : 0}</boolean>`
        : `<string>${String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</string>`;
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value>${value(p)}</value></param>`).join('')}</params></methodCall>`;
}

async function rpc(url, session, method, ...params) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml' },
    body: rpcBody(method, [session, ...params]),
  });
  const text = await res.text();
  if (!text.includes('<boolean>1</boolean>')) throw new Error(`${method}: ${text}`);
  return text;
}

const dir = mkdtempSync(join(tmpdir(), 'onebackup-bench-list-'));
const { daemon, url } = await startDaemon(dir);
try {
  const session = (await import('node:fs')).readFileSync(join(dir, 'one_auth'), 'utf8').trim();
  const disk = join(dir, 'disk.raw');
  execFileSync('truncate', ['-s', '1M', disk]);
  const t0 = performance.now();
  for (let h = 0; h < HOSTS; h++)
    await rpc(url, session, 'one.host.allocate', `NAME="node${h}"\nTRANSPORT="local"\n`);
  await rpc(url, session, 'one.datastore.allocate', 'NAME="ds"\nTYPE="BACKUP_DS"\n');
  for (let i = 0; i < JOBS; i++) {
    await rpc(
      url,
      session,
      'one.vm.allocate',
      `NAME="vm${i}"\nHOST="node${i % HOSTS}"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    );
    await rpc(
      url,
      session,
      'one.backupjob.allocate',
      `NAME="job${i}"\nPRIORITY=${i % 50}\nBACKUP_VMS="${i}"\nDATASTORE_ID=100\nEXECUTION="${i % 2 ? 'PARALLEL' : 'SEQUENTIAL'}"\n`,
    );
  }
  console.log(
    `setup: ${HOSTS} hosts, ${JOBS} VMs, ${JOBS} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const env = { ...process.env, ONE_XMLRPC: url.href, ONE_AUTH: join(dir, 'one_auth'), TZ: 'UTC' };
  const time = (fn) => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };
  const cli = [];
  const node = [];
  const call = [];
  for (let r = 0; r < RUNS; r++) {
    node.push(time(() => execFileSync(process.execPath, ['-e', ''], { env })));
    let lines = 0;
    cli.push(
      time(() => {
        lines = execFileSync(process.execPath, [join(DIST, 'cli/onebackupjob.js'), 'list'], {
          env,
          maxBuffer: 64 << 20,
        })
          .toString()
          .split('\n').length;
      }),
    );
    if (lines < JOBS) throw new Error(`list printed ${lines} lines for ${JOBS} jobs`);
    const t = performance.now();
    await rpc(url, session, 'one.backupjobpool.info', -2, -1, -1);
    call.push(performance.now() - t);
  }
  const m = { cli: median(cli), node: median(node), call: median(call) };
  console.log('| measure (median of 7) | ms |');
  console.log('|---|---|');
  console.log(`| onebackupjob list, ${JOBS} jobs, end to end | ${m.cli.toFixed(1)} |`);
  console.log(`| one.backupjobpool.info alone | ${m.call.toFixed(1)} |`);
  console.log(`| node -e '' (reference) | ${m.node.toFixed(1)} |`);
  console.log(
    `summary list_jobs=${JOBS} list_ms=${m.cli.toFixed(0)} pool_info_ms=${m.call.toFixed(0)} list_vs_node_startup=${(m.cli / m.node).toFixed(2)}`,
  );
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
