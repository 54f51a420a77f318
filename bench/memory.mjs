// npm run bench:memory
// Memory of one daemon under a burst of manual operations (issue 9): starts the real onebackupd
// (dist/) on a temporary state directory with default limits, creates 4 hosts and 20 VMs in no
// job (10 raw and 10 qcow2 disks of 256 MiB: half seeded random data, 3/8 real files from /usr,
// 1/8 holes), backs up 5 of them, then requests 20 `onevm backup` (one.vm.backup) and 5
// `oneimage restore` (one.image.restore) at once over XML-RPC, and samples the daemon's VmRSS
// from /proc every 50 ms, VmHWM at the end. Reports the RSS after start, before the burst, peak
// and after, how many backups ran at once (from the daemon's log), the queue reasons the VMs
// showed, and the burst's time; medians of BENCH_RUNS runs (3). The same burst with
// MAX_BACKUPS = MAX_BACKUPS_HOST = MAX_RESTORES = 0 (unlimited) is the reference.
// Exits 1 if any bounded run peaks at 300 MiB or more, or if an operation fails.
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { listeningUrl } from './xmlrpc-call.mjs';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const { encodeMethodCall, decodeMethodResponse } = await import(join(DIST, 'core/api/xmlrpc.js'));

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MODES = (process.env.BENCH_MODES ?? 'bounded,unlimited').split(',');
const DISK_MIB = Number(process.env.BENCH_DISK_MIB ?? 256);
const VMS = 20;
const HOSTS = 4;
const FIRST = 5; // backed up before the burst: the images the burst restores
const RESTORES = 5;
const LIMIT_MIB = 300;
const SAMPLE_MS = 50;
const MiB = 1024 * 1024;
const BLOCK = 4 * MiB;

const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'onebackup-bench-mem-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (kib) => kib / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!existsOnPath('qemu-img')) {
  console.error('bench: qemu-img is missing; install it with: apt-get install -y qemu-utils');
  process.exit(2);
}

function existsOnPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Seeded pseudo-random bytes (AES-CTR over zeros): the same disks on every machine and run. */
function seeded(seed, length) {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** 64 MiB of real files from /usr, in a fixed order: compressible the way binaries and text are. */
function realData() {
  const out = Buffer.alloc(64 * MiB);
  let used = 0;
  const walk = (dir) => {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (used >= out.length) return;
      const p = join(dir, name);
      try {
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && st.size > 0 && st.size < 16 * MiB)
          used += readFileSync(p).copy(out, used, 0, Math.min(st.size, out.length - used));
      } catch {}
    }
  };
  for (const d of ['/usr/lib', '/usr/share', '/usr/bin']) walk(d);
  if (used < out.length) out.copy(out, used, 0, out.length - used); // a small /usr: repeat it
  return out;
}

/**
 * VM i's disk: 4 MiB blocks, 4 of every 8 seeded random (incompressible), 3 real files (each
 * block tagged with its VM and index, so no two VMs share a chunk), 1 a hole. Half raw, half qcow2.
 */
function buildDisks() {
  const dir = join(root, 'disks');
  mkdirSync(dir);
  const real = realData();
  const disks = [];
  for (let i = 0; i < VMS; i++) {
    const raw = join(dir, `vm${i}.raw`);
    const fd = openSync(raw, 'w');
    for (let b = 0; b < DISK_MIB / 4; b++) {
      const kind = b % 8;
      if (kind === 7) continue;
      let block;
      if (kind < 4) block = seeded(`vm${i}-b${b}`, BLOCK);
      else {
        const at = (((i * 61 + b * 7) * MiB) / 4) % (real.length - BLOCK);
        block = Buffer.from(real.subarray(at, at + BLOCK));
        block.write(`vm ${i} block ${b} `, 0);
      }
      writeSync(fd, block, 0, BLOCK, b * BLOCK);
    }
    execFileSync('truncate', ['-s', `${DISK_MIB}M`, raw]);
    closeSync(fd);
    if (i % 2 === 1) {
      const qcow2 = join(dir, `vm${i}.qcow2`);
      execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
      rmSync(raw);
      disks.push({ path: qcow2, format: 'qcow2' });
    } else disks.push({ path: raw, format: 'raw' });
  }
  return disks;
}

function vmStatusKiB(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

async function startDaemon(stateDir, limits) {
  const conf = join(stateDir, 'onebackupd.conf');
  writeFileSync(conf, `LOG_FORMAT = "json"\nTIMEZONE = "UTC"\n${limits}`);
  const child = spawn(
    process.execPath,
    [join(DIST, 'cli/onebackupd.js'), '--config', conf, '--listen', '127.0.0.1:0', '--state-dir', stateDir],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ONEBACKUP_STATE_DIR: stateDir } },
  );
  const events = [];
  let partial = '';
  child.stderr.on('data', (d) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        events.push({ ...JSON.parse(line), at: performance.now() });
      } catch {
        events.push({ msg: line, at: performance.now() });
      }
    }
  });
  const url = await listeningUrl(child, () => `: ${events.map((e) => e.msg).join('\n')}`);
  const session = readFileSync(join(stateDir, 'one_auth'), 'utf8').trim();
  const rpc = async (method, ...params) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: encodeMethodCall(method, [session, ...params]),
    });
    const decoded = decodeMethodResponse(await res.text());
    if ('fault' in decoded) throw new Error(`${method}: fault ${decoded.fault.message}`);
    const [ok, body] = decoded.value;
    if (ok !== true) throw new Error(`${method}: ${body}`);
    return body;
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  return { child, url, rpc, events, stop };
}

/** Waits until `n` backups ended (done or failed) after event index `from`; returns those events. */
async function backupsEnded(events, from, n, timeoutMs = 600_000) {
  const t = performance.now();
  for (;;) {
    const ended = events.slice(from).filter((e) => e.msg === 'backup done' || e.msg === 'backup failed');
    if (ended.length >= n) return ended;
    if (performance.now() - t > timeoutMs) throw new Error(`only ${ended.length}/${n} backups ended`);
    await sleep(20);
  }
}

/** Most backups running at once, in all and on one host, replaying the log from index `from`. */
function concurrency(events, from, hostOfVm) {
  const running = new Set();
  let max = 0;
  let maxHost = 0;
  for (const e of events.slice(from)) {
    if (e.msg === 'backup started') running.add(e.vm);
    else if (e.msg === 'backup done' || e.msg === 'backup failed') running.delete(e.vm);
    else continue;
    max = Math.max(max, running.size);
    const perHost = new Map();
    for (const vm of running) perHost.set(hostOfVm(vm), (perHost.get(hostOfVm(vm)) ?? 0) + 1);
    maxHost = Math.max(maxHost, ...perHost.values(), 0);
  }
  return { max, maxHost };
}

const unescapeXml = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

async function runOnce(disks, mode, index) {
  const stateDir = mkdtempSync(join(root, `${mode}-${index}-`));
  const limits = mode === 'unlimited' ? 'MAX_BACKUPS = 0\nMAX_BACKUPS_HOST = 0\nMAX_RESTORES = 0\n' : '';
  const d = await startDaemon(stateDir, limits);
  const samples = [];
  const sampler = setInterval(() => {
    try {
      samples.push(vmStatusKiB(d.child.pid).rss);
    } catch {}
  }, SAMPLE_MS);
  try {
    await sleep(1000);
    const baseline = vmStatusKiB(d.child.pid).rss;
    for (let h = 0; h < HOSTS; h++)
      await d.rpc('one.host.allocate', `NAME = "node${h}"\nTRANSPORT = "local"\nVM_MAD = "fs"\n`);
    const ds = await d.rpc(
      'one.datastore.allocate',
      'NAME = "backups"\nTYPE = "BACKUP_DS"\nCOMPRESSION = "zstd"\nENCRYPTION = "YES"\n',
    );
    const hostOf = new Map();
    const vms = [];
    for (const [i, disk] of disks.entries()) {
      const id = await d.rpc(
        'one.vm.allocate',
        `NAME = "vm-${i}"\nHOST = "node${i % HOSTS}"\nSTATE = "POWEROFF"\n` +
          `DISK = [ SOURCE = "${disk.path}", FORMAT = "${disk.format}" ]\n`,
      );
      vms.push(id);
      hostOf.set(id, i % HOSTS);
    }

    // The first backups: the images the burst restores.
    let from = d.events.length;
    for (const vm of vms.slice(0, FIRST)) await d.rpc('one.vm.backup', vm, ds, false);
    const first = await backupsEnded(d.events, from, FIRST);
    const failedFirst = first.filter((e) => e.msg === 'backup failed');
    if (failedFirst.length > 0) throw new Error(`backup failed: ${JSON.stringify(failedFirst[0])}`);
    const images = [];
    for (const vm of vms.slice(0, FIRST)) {
      const doc = await d.rpc('one.vm.info', vm, false);
      const ids = /<BACKUP_IDS>(.*?)<\/BACKUP_IDS>/s.exec(doc)?.[1] ?? '';
      const image = /<ID>(\d+)<\/ID>/.exec(ids)?.[1];
      if (image === undefined) throw new Error(`VM ${vm}: no backup image after its backup`);
      images.push(Number(image));
    }
    await sleep(500);
    const before = vmStatusKiB(d.child.pid).rss;

    // The burst: 20 backups and 5 restores requested at once.
    from = d.events.length;
    const t0 = performance.now();
    const restores = images
      .slice(0, RESTORES)
      .map((image, k) => d.rpc('one.image.restore', image, -1, `NAME = "restored-${k}"\n`));
    for (const p of restores) p.catch(() => undefined);
    await Promise.all(vms.map((vm) => d.rpc('one.vm.backup', vm, ds, false)));
    // What the VMs say while they wait (one.vm.info, what onevm show prints).
    const reasons = [];
    for (const vm of vms) {
      const doc = await d.rpc('one.vm.info', vm, false);
      const q = /<QUEUED>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?<\/QUEUED>/s.exec(doc)?.[1];
      if (q !== undefined) reasons.push(unescapeXml(q));
    }
    const restored = await Promise.all(restores);
    const ended = await backupsEnded(d.events, from, VMS);
    const seconds = (performance.now() - t0) / 1000;
    const failed = ended.filter((e) => e.msg === 'backup failed');
    if (failed.length > 0) throw new Error(`backup failed: ${JSON.stringify(failed[0])}`);
    for (const r of restored) if (!/DISK 0: /.test(r)) throw new Error(`restore said: ${r}`);
    await sleep(1000);
    const after = vmStatusKiB(d.child.pid);
    const restoreReasons = d.events
      .slice(from)
      .filter((e) => e.msg === 'restore queued')
      .map((e) => e.reason);
    return {
      baseline: mib(baseline),
      before: mib(before),
      peak: mib(after.hwm),
      sampledPeak: mib(Math.max(...samples)),
      after: mib(after.rss),
      seconds,
      ...concurrency(d.events, from, (vm) => hostOf.get(vm)),
      queuedShown: reasons.length,
      reasons: [...new Set(reasons)],
      restoresQueued: restoreReasons.length,
      restoreReason: restoreReasons[0] ?? '-',
      read: ended.reduce((s, e) => s + (e.read ?? 0), 0) / MiB,
    };
  } finally {
    clearInterval(sampler);
    await d.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const f0 = (x) => x.toFixed(0);
const f1 = (x) => x.toFixed(1);

async function main() {
  const t = performance.now();
  const disks = buildDisks();
  console.log(
    `disks: ${VMS} x ${DISK_MIB} MiB (10 raw, 10 qcow2; 1/2 random, 3/8 /usr files, 1/8 holes) in ${f1((performance.now() - t) / 1000)} s`,
  );
  const results = { bounded: [], unlimited: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const mode of MODES) {
      const r = await runOnce(disks, mode, run);
      results[mode].push(r);
      console.log(
        `${mode} run ${run + 1}: rss start ${f0(r.baseline)} MiB, before burst ${f0(r.before)}, peak ${f0(r.peak)} (sampled ${f0(r.sampledPeak)}), after ${f0(r.after)}; ` +
          `${r.max} backups at once (${r.maxHost} on one host); ${r.queuedShown} VMs showed QUEUED` +
          (r.reasons.length > 0 ? ` (${r.reasons.map((x) => `"${x}"`).join(', ')})` : '') +
          `, ${r.restoresQueued} restores waited` +
          (r.restoreReason !== '-' ? ` ("${r.restoreReason}")` : '') +
          `; burst ${f1(r.seconds)} s, ${f0(r.read)} MiB read`,
      );
    }
  }
  const m = (mode, key) => median(results[mode].map((r) => r[key]));
  console.log(
    `\n| limits (medians of ${RUNS}) | RSS after start | before burst | peak (VmHWM) | after | backups at once | burst time |`,
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [mode, label] of [
    ['bounded', 'defaults (5 / 2 per host / 2 restores)'],
    ['unlimited', 'unlimited (0 / 0 / 0)'],
  ].filter(([mode]) => MODES.includes(mode))) {
    console.log(
      `| ${label} | ${f0(m(mode, 'baseline'))} MiB | ${f0(m(mode, 'before'))} MiB | ${f0(m(mode, 'peak'))} MiB | ${f0(m(mode, 'after'))} MiB | ${m(mode, 'max')} | ${f1(m(mode, 'seconds'))} s |`,
    );
  }
  if (!MODES.includes('bounded') || !MODES.includes('unlimited')) return;
  const worst = Math.max(...results.bounded.map((r) => r.peak));
  const ratio = m('bounded', 'peak') / m('unlimited', 'peak');
  console.log(
    `\nsummary peak_rss_mib=${f0(m('bounded', 'peak'))} worst_peak_rss_mib=${f0(worst)} unlimited_peak_rss_mib=${f0(m('unlimited', 'peak'))} peak_vs_unlimited=${ratio.toFixed(2)} ` +
      `rss_start_mib=${f0(m('bounded', 'baseline'))} rss_after_mib=${f0(m('bounded', 'after'))} max_backups_at_once=${m('bounded', 'max')} ` +
      `burst_s=${f1(m('bounded', 'seconds'))} unlimited_burst_s=${f1(m('unlimited', 'seconds'))} total_s=${f0((performance.now() - t) / 1000)}`,
  );
  if (worst >= LIMIT_MIB) {
    console.error(`bench: peak RSS ${f0(worst)} MiB >= ${LIMIT_MIB} MiB`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}
