// npm run bench:api [-- --duration 60 --clients 200 --attackers 50 --think 250 --runs 1]
// The XML-RPC API under load, end to end (runs from dist/): starts a real onebackupd on a
// temporary state directory, creates 4 hosts, 40 VMs with real 16 MiB raw disks (2 MiB of random
// data each, KEEP_LAST=2), a datastore and 4 backup jobs of 5 VMs, then runs `--clients` clients
// over keep-alive HTTP for `--duration` seconds, each calling, with `--think` ms (random 0.5-1.5x)
// between calls: list (vm/host/image/backupjob pools) 30%, info (one.vm.info) 30%, show (host,
// datastore, image, backup job info) 20%, create (one.vm.allocate, then the VM deleted) 10%,
// backup (one.vm.backup of a VM in no job, or one.backupjob.backup) 10%, while those backups run.
// A backup call answered ACTION because that VM or job is already backing up is OpenNebula's
// answer, counted as "busy", not an error. Phase 2 repeats the mix with `--attackers` of the
// clients sending oneadmin's name with wrong passwords (their refusals are expected).
// Reports p50/p99 per call kind, errors, and the daemon's peak RSS (VmHWM); with --runs N, the
// median of N runs of each figure. Exits 1 unless every phase has 0 errors, p99 of info and list
// under 100 ms, and peak RSS under 512 MiB.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { call, retries, startDaemon } from './xmlrpc-call.mjs';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    clients: { type: 'string', default: '200' },
    attackers: { type: 'string', default: '50' },
    think: { type: 'string', default: '250' },
    runs: { type: 'string', default: '1' },
  },
});
const DURATION_S = Number(flags.duration);
const CLIENTS = Number(flags.clients);
const ATTACKERS = Number(flags.attackers);
const THINK_MS = Number(flags.think);
const RUNS = Number(flags.runs);
const HOSTS = 4;
const VMS = 40;
const JOBS = 4;
const JOB_VMS = 5;
const MiB = 1024 * 1024;
const LIMITS = { p99InfoMs: 100, p99ListMs: 100, rssMiB: 512 };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (sorted, q) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function buildInventory(target, agent, session, dir) {
  const ok = async (method, ...params) => {
    const r = await call(target, agent, session, method, ...params);
    if (!r.ok) throw new Error(`${method}: ${r.text}`);
    return Number(/<i4>(\d+)<\/i4>/.exec(r.text)?.[1] ?? Number.NaN);
  };
  for (let h = 0; h < HOSTS; h++) await ok('one.host.allocate', `NAME="node${h}"\nTRANSPORT="local"\n`);
  await ok('one.datastore.allocate', 'NAME="bench"\nTYPE="BACKUP_DS"\n');
  const vms = [];
  for (let i = 0; i < VMS; i++) {
    const disk = join(dir, `vm${i}.raw`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '16M']);
    writeFileSync(disk, randomBytes(2 * MiB), { flag: 'r+' });
    vms.push(
      await ok(
        'one.vm.allocate',
        `NAME="vm${i}"\nHOST="node${i % HOSTS}"\nSTATE="POWEROFF"\nBACKUP_CONFIG=[KEEP_LAST="2"]\nDISK=[SOURCE="${disk}"]\n`,
      ),
    );
  }
  const jobs = [];
  for (let j = 0; j < JOBS; j++) {
    const ids = vms.slice(j * JOB_VMS, (j + 1) * JOB_VMS).join(',');
    jobs.push(
      await ok(
        'one.backupjob.allocate',
        `NAME="job${j}"\nBACKUP_VMS="${ids}"\nDATASTORE_ID=100\nKEEP_LAST=2\n`,
      ),
    );
  }
  return { vms, manualVms: vms.slice(JOBS * JOB_VMS), jobs, disk: join(dir, 'vm0.raw') };
}

const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

/** One client's loop: the mix, until `end`. */
async function client(target, agent, session, world, end, stats) {
  let created;
  while (performance.now() < end) {
    const r = Math.random();
    let kind;
    let args;
    if (r < 0.3) {
      kind = 'list';
      args = pick([
        ['one.vmpool.info', -2, -1, -1, -1],
        ['one.hostpool.info'],
        ['one.imagepool.info', -2, -1, -1],
        ['one.backupjobpool.info', -2, -1, -1],
      ]);
    } else if (r < 0.6) {
      kind = 'info';
      args = ['one.vm.info', pick(world.vms)];
    } else if (r < 0.8) {
      kind = 'show';
      args = pick([
        ['one.host.info', 0],
        ['one.datastore.info', 100],
        ['one.backupjob.info', pick(world.jobs)],
        ['one.user.info', -1],
      ]);
    } else if (r < 0.9) {
      if (created === undefined) {
        kind = 'create';
        args = [
          'one.vm.allocate',
          `NAME="tmp"\nHOST="node0"\nSTATE="POWEROFF"\nDISK=[SOURCE="${world.disk}"]\n`,
        ];
      } else {
        kind = 'delete';
        args = ['one.vm.delete', created];
      }
    } else {
      kind = 'backup';
      args =
        Math.random() < 0.5
          ? ['one.vm.backup', pick(world.manualVms), 100]
          : ['one.backupjob.backup', pick(world.jobs)];
    }
    const t0 = performance.now();
    let res;
    try {
      res = await call(target, agent, session, ...args);
    } catch (err) {
      res = { ok: false, code: -1, text: String(err) };
    }
    const ms = performance.now() - t0;
    stats.latency[kind] ??= [];
    stats.latency[kind].push(ms);
    if (res.ok) {
      if (kind === 'create') created = Number(/<i4>(\d+)<\/i4>/.exec(res.text)?.[1]);
      if (kind === 'delete') created = undefined;
    } else if (kind === 'backup' && res.code === 0x800) stats.busy++;
    else {
      stats.errors++;
      if (stats.samples.length < 5) stats.samples.push(`${args[0]}: ${res.text.slice(0, 300)}`);
    }
    await sleep(THINK_MS * (0.5 + Math.random()));
  }
}

async function attacker(target, agent, end, stats) {
  while (performance.now() < end) {
    try {
      const res = await call(
        target,
        agent,
        `oneadmin:wrong${randomBytes(4).toString('hex')}`,
        'one.vm.info',
        0,
      );
      if (res.ok) stats.attackerAccepted++;
      else if (/Too many failed logins/.test(res.text)) stats.throttled++;
      else stats.refused++;
    } catch {
      stats.errors++;
    }
    await sleep(THINK_MS * (0.5 + Math.random()));
  }
}

/** The daemon's CPU time so far (user + system), in ms, from /proc. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ=100
}

/** prom-client's event-loop delay gauges (reset at each scrape), in ms. */
async function loopDelay(target, agent) {
  const text = await new Promise((resolve, reject) => {
    request({ host: target.hostname, port: target.port, path: '/metrics', agent }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        t += d;
      });
      res.on('end', () => resolve(t));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  const get = (name) => 1000 * Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { p99: get('nodejs_eventloop_lag_p99_seconds'), max: get('nodejs_eventloop_lag_max_seconds') };
}

function rssPeakMiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function phase(attackers) {
  const dir = mkdtempSync(join(tmpdir(), 'onebackup-bench-api-'));
  const { daemon, url } = await startDaemon(dir);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS + 10 });
  try {
    const session = readFileSync(join(dir, 'one_auth'), 'utf8').trim();
    const world = await buildInventory(url, agent, session, dir);
    for (const job of world.jobs) await call(url, agent, session, 'one.backupjob.backup', job);
    const stats = {
      latency: {},
      errors: 0,
      busy: 0,
      samples: [],
      throttled: 0,
      refused: 0,
      attackerAccepted: 0,
    };
    await loopDelay(url, agent); // resets the daemon's event-loop delay histogram
    retries.staleSocketRetries = 0;
    const cpu0 = cpuMs(daemon.pid);
    const end = performance.now() + DURATION_S * 1000;
    const loops = [];
    for (let c = 0; c < CLIENTS; c++) {
      loops.push(
        c < attackers ? attacker(url, agent, end, stats) : client(url, agent, session, world, end, stats),
      );
      await sleep(2); // ramp up over a moment, not in one burst of connections
    }
    await Promise.all(loops);
    const cpu = cpuMs(daemon.pid) - cpu0;
    const calls = Object.values(stats.latency).reduce((n, xs) => n + xs.length, 0);
    return {
      ...stats,
      rss: rssPeakMiB(daemon.pid),
      loop: await loopDelay(url, agent),
      cpuPerCallMs: cpu / Math.max(1, calls),
      callsPerS: calls / DURATION_S,
      staleSocketRetries: retries.staleSocketRetries,
    };
  } finally {
    agent.destroy();
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarise(title, runs) {
  const kinds = ['list', 'info', 'show', 'create', 'delete', 'backup'];
  const fig = {};
  console.log(`\n${title} (${runs.length} run${runs.length > 1 ? 's' : ''}, median of each figure)`);
  console.log('kind      calls     p50 ms   p99 ms');
  for (const k of kinds) {
    const per = runs.map((r) => [...(r.latency[k] ?? [])].sort((a, b) => a - b));
    const p50 = median(per.map((s) => pct(s, 0.5)));
    const p99 = median(per.map((s) => pct(s, 0.99)));
    fig[k] = { p50, p99 };
    const n = median(per.map((s) => s.length));
    console.log(
      `${k.padEnd(8)} ${String(n).padStart(6)} ${p50.toFixed(1).padStart(10)} ${p99.toFixed(1).padStart(8)}`,
    );
  }
  const errors = Math.max(...runs.map((r) => r.errors));
  const rss = median(runs.map((r) => r.rss));
  console.log(
    `errors: ${errors} (worst run); backup calls answered busy: ${median(runs.map((r) => r.busy))}`,
  );
  if (runs[0].throttled + runs[0].refused > 0) {
    console.log(
      `attacker calls: ${median(runs.map((r) => r.refused))} refused after a password check, ${median(runs.map((r) => r.throttled))} refused by the throttle, ${Math.max(...runs.map((r) => r.attackerAccepted))} accepted`,
    );
  }
  console.log(`daemon peak RSS: ${rss.toFixed(0)} MiB`);
  console.log(
    `calls sent again after the daemon closed an idle kept-alive socket: ${median(runs.map((r) => r.staleSocketRetries))}`,
  );
  console.log(
    `daemon: ${median(runs.map((r) => r.callsPerS)).toFixed(0)} calls/s, ${median(runs.map((r) => r.cpuPerCallMs)).toFixed(2)} ms CPU per call; event-loop delay p99 ${median(runs.map((r) => r.loop.p99)).toFixed(0)} ms, max ${median(runs.map((r) => r.loop.max)).toFixed(0)} ms`,
  );
  console.log(
    `load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  for (const r of runs) for (const s of r.samples) console.log(`  error: ${s}`);
  const failures = [];
  if (errors > 0) failures.push(`${errors} errors`);
  if (runs.some((r) => r.attackerAccepted > 0)) failures.push('a wrong password was accepted');
  if (fig.info.p99 >= LIMITS.p99InfoMs)
    failures.push(`p99 of info ${fig.info.p99.toFixed(1)} ms >= ${LIMITS.p99InfoMs}`);
  if (fig.list.p99 >= LIMITS.p99ListMs)
    failures.push(`p99 of list ${fig.list.p99.toFixed(1)} ms >= ${LIMITS.p99ListMs}`);
  if (!(rss < LIMITS.rssMiB)) failures.push(`peak RSS ${rss.toFixed(0)} MiB >= ${LIMITS.rssMiB}`);
  return failures;
}

console.log(
  `onebackupd API: ${CLIENTS} clients, ${DURATION_S} s, think ${THINK_MS} ms (0.5-1.5x), ${HOSTS} hosts, ${VMS} VMs with 16 MiB disks, ${JOBS} jobs`,
);
const plain = [];
const attacked = [];
for (let i = 0; i < RUNS; i++) {
  plain.push(await phase(0));
  attacked.push(await phase(ATTACKERS));
}
const failures = [
  ...summarise('mixed load', plain),
  ...summarise(`mixed load, ${ATTACKERS} of the clients sending wrong passwords`, attacked),
];
if (failures.length > 0) {
  console.log(`\nFAIL: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('\nOK: 0 errors, p99 of info and list under 100 ms, peak RSS under 512 MiB');
