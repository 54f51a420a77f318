// Live-VM benchmark (issue 11): a running VM (bare QEMU through QMP, the test guest of
// test/support/guest.ts writing to its disk) with an 8 GiB raw disk, 2 GiB of it data, and 2 %
// of it (164 MiB) changed between backups. Reported as ratios measured in the same run, medians
// of RUNS increments:
//   - the CBT increment's time against restic's incremental backup of the same disk image
//     (restic must re-read the whole image);
//   - against the time to just read the changed bytes from the image;
//   - the guest's write rate during a backup against without one;
//   - the guest's freeze with FS_FREEZE=AGENT (every backup here freezes through the agent).
// The CBT increment's time is the manifest's DURATION_MS (from the first block status to the
// manifest, the point in time already taken); the daemon's debug line `backup phases (ms)` adds
// the whole run (`total`: previous manifest, point in time, release, record) and where it goes,
// printed as medians per phase.
// Needs qemu-system-x86, gcc, cpio, a kernel in /boot and restic (Debian packages).
// With --ssh the VM's host is reached over SSH (a real sshd on 127.0.0.2, the host agent): also
// reports the bytes that crossed the host's connection per increment against the bytes changed.
// Usage: npm run bench:live [-- --size-gib 8 --runs 3 --ssh]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const { startDaemon, runCli, tempDir, cleanup } = await import(join(DIST, 'test/support/daemon.js'));
const { startGuest, guestUnavailable } = await import(join(DIST, 'test/support/guest.js'));
const { rpcOk } = await import(join(DIST, 'test/support/rpc.js'));
const { startSshd } = await import(join(DIST, 'test/support/sshd.js'));
const SSH = process.argv.includes('--ssh');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = arg('size-gib', 8) * GiB;
const RUNS = arg('runs', 3);
const DATA = Math.min(2 * GiB, SIZE / 4);
const CHANGED_BLOCKS = Math.round((SIZE * 0.02) / (64 * 1024));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const missing = guestUnavailable();
if (missing) {
  console.error(`bench:live needs ${missing}`);
  process.exit(2);
}
try {
  execFileSync('restic', ['version'], { stdio: 'ignore' });
} catch {
  console.error('bench:live needs restic (Debian package restic)');
  process.exit(2);
}

const work = tempDir('onebackup-bench-live-');
const disk = join(work, 'disk.raw');
const fd = openSync(disk, 'w');
// Data after the guest's region (it writes from offset 0): 2 GiB of half-compressible blocks.
for (let at = SIZE / 2; at < SIZE / 2 + DATA; at += 64 * MiB) {
  const buf = Buffer.alloc(64 * MiB);
  randomBytes(32 * MiB).copy(buf);
  writeSync(fd, buf, 0, buf.length, at);
}
writeSync(fd, Buffer.alloc(1), 0, 1, SIZE - 1);
closeSync(fd);

const guestDir = join(work, 'guest');
mkdirSync(guestDir);
const guest = await startGuest({ dir: guestDir, disk, format: 'raw', blocks: CHANGED_BLOCKS, stride: 9973 });
const sshd = SSH ? await startSshd(guestDir, '127.0.0.2') : undefined;
const d = await startDaemon();
/** Bytes that crossed the SSH connections to hosts' agents so far (from /metrics). */
const agentBytes = async () => {
  const text = await (await fetch(d.url.replace(/\/RPC2$/, '/metrics'))).text();
  let sum = 0;
  for (const m of text.matchAll(/^onebackup_host_agent_bytes_total\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
  return sum;
};
const cli = async (name, args) => {
  // A FULL backup of the 8 GiB disk on a loaded machine takes longer than the CLI's default 30 s.
  const r = await runCli(name, args, d, { timeoutMs: 600_000 });
  if (r.code !== 0) {
    const problems = d
      .logs()
      .split('\n')
      .filter((l) => /level=(error|warn)/.test(l));
    throw new Error(`${name} ${args.join(' ')}: ${r.stderr}\n${problems.slice(-10).join('\n')}`);
  }
  return r.stdout;
};
const results = {
  cbtMs: [],
  resticMs: [],
  readChangedMs: [],
  changedMiB: [],
  rateIdle: [],
  rateBackup: [],
  frozenMs: [],
  crossedPerChanged: [],
};
/** Per phase of the daemon's `backup phases (ms)` debug lines, one value per CBT increment. */
const phases = new Map();
const lastPhases = () => {
  const line = d
    .logs()
    .split('\n')
    .findLast((l) => l.includes('msg="backup phases (ms)"'));
  const out = new Map();
  for (const m of (line ?? '').matchAll(/ ([\w.]+)=(\d+)/g)) if (m[1] !== 'vm') out.set(m[1], Number(m[2]));
  return out;
};
try {
  await rpcOk(
    d,
    'one.host.allocate',
    sshd ? sshd.hostTemplate('kvm') : 'NAME="kvm1"\nTRANSPORT="local"\nVM_MAD="kvm"\n',
  );
  await rpcOk(d, 'one.datastore.allocate', `NAME="bench"\nBASE_PATH="${join(work, 'ds')}"\n`);
  const vm = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="live"\nHOST="${sshd ? sshd.host : 'kvm1'}"\nQMP_SOCKET="${guest.qmpSocket}"\nGUEST_AGENT_SOCKET="${guest.agentSocket}"\n` +
        `BACKUP_CONFIG=[MODE="INCREMENT", FS_FREEZE="AGENT"]\nDISK=[SOURCE="${disk}", FORMAT="raw"]\n`,
    ),
  );
  const repo = join(work, 'restic');
  const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_REPOSITORY: repo };
  execFileSync('restic', ['init', '-q'], { env });
  const restic = () => {
    const t = performance.now();
    execFileSync('restic', ['backup', '-q', disk], { env });
    return performance.now() - t;
  };
  /** Guest records per second over a window, from its console. */
  const rate = async (during) => {
    const s0 = guest.seq();
    const t0 = performance.now();
    await during();
    return (guest.seq() - s0) / ((performance.now() - t0) / 1000);
  };
  const lastIncrement = async (image) => {
    const xml = await cli('oneimage', ['show', image, '-x']);
    const inc = [...xml.matchAll(/<INCREMENT>([\s\S]*?)<\/INCREMENT>/g)].at(-1)?.[1] ?? '';
    const field = (n) => new RegExp(`<${n}>(?:<!\\[CDATA\\[)?([^<\\]]*)`).exec(inc)?.[1];
    return {
      ms: Number(field('DURATION_MS')),
      changed: Number(field('CHANGED_BYTES') ?? 0),
      frozen: Number(field('FROZEN_MS')),
    };
  };
  const backup = async () =>
    /image (\d+)/.exec(await cli('onevm', ['backup', String(vm), '-d', '100', '--wait']))[1];
  const waitChanged = async () => guest.waitSeq(guest.seq() + CHANGED_BLOCKS + 100, 600_000);

  // The guest prints every 100 records: rates are taken over windows of seconds (the FULL
  // backup, and 5 s without a backup).
  let image;
  results.rateBackup.push(await rate(async () => (image = await backup())));
  results.rateIdle.push(await rate(() => new Promise((r) => setTimeout(r, 5000))));
  restic();
  for (let i = 0; i < RUNS; i++) {
    await waitChanged();
    const before = await agentBytes();
    await backup();
    const inc = await lastIncrement(image);
    if (sshd) results.crossedPerChanged.push(((await agentBytes()) - before) / inc.changed);
    results.cbtMs.push(inc.ms);
    for (const [k, v] of lastPhases()) phases.set(k, [...(phases.get(k) ?? []), v]);
    results.frozenMs.push(inc.frozen);
    results.changedMiB.push(inc.changed / MiB);
    results.resticMs.push(restic());
    // Just reading the changed bytes (the guest writes the first blocks of the image), from the
    // disk and not the page cache (O_DIRECT), as a backup of a VM whose data is not cached must.
    const t = performance.now();
    execFileSync(
      'dd',
      [`if=${disk}`, 'of=/dev/null', 'bs=4M', `count=${Math.ceil(inc.changed / (4 * MiB))}`, 'iflag=direct'],
      {
        stdio: 'ignore',
      },
    );
    results.readChangedMs.push(performance.now() - t);
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  console.log(
    `disk ${SIZE / GiB} GiB raw, ${DATA / GiB} GiB data, ${CHANGED_BLOCKS} blocks of 64 KiB changed (2 %), medians of ${RUNS}`,
  );
  console.log(`CBT increment: ${m.cbtMs.toFixed(0)} ms for ${m.changedMiB.toFixed(0)} MiB changed`);
  console.log(
    `restic incremental: ${m.resticMs.toFixed(0)} ms -> ratio ${(m.cbtMs / m.resticMs).toFixed(3)} (goal <= 0.05)`,
  );
  console.log(
    `reading the changed bytes from the image (dd iflag=direct): ${m.readChangedMs.toFixed(0)} ms -> ratio ${(m.cbtMs / m.readChangedMs).toFixed(2)} (goal <= 1.2)`,
  );
  console.log(
    `guest writes (64 KiB records, each durable): ${m.rateBackup.toFixed(0)}/s during the FULL backup vs ${m.rateIdle.toFixed(0)}/s without -> ${(m.rateBackup / m.rateIdle).toFixed(2)}`,
  );
  console.log(`FS_FREEZE=AGENT (every backup here): guest frozen ${m.frozenMs} ms`);
  console.log(
    `CBT increment phases, ms (medians; read/encode/store are summed over chunks in flight, they overlap): ${[
      ...phases,
    ]
      .map(([k, v]) => `${k}=${median(v)}`)
      .join(' ')}`,
  );
  if (sshd)
    console.log(
      `host over SSH: bytes that crossed the host's connection per CBT increment / bytes changed: ${m.crossedPerChanged.toFixed(2)}`,
    );
} finally {
  await sshd?.stop();
  await d.stop();
  await guest.stop();
  cleanup(d.stateDir);
  cleanup(work);
}
