// npm run bench [-- SIZE]   (SIZE like 2G, 8G; default 2G)
// Builds a deterministic ext4 disk image (real files from /usr plus seeded random data, free
// space sparse), then on the same image, as raw and as qcow2, measures onebackup against restic
// (Debian's package, local repository, default compression) and `zstd -1 -T2`: full backup, an
// incremental after changing 5% of the 4 MiB blocks, restore, stored bytes, peak RSS.
// Median of 3 runs each. Prints the machine first (the work directory's filesystem, its flush
// latency: fsync of a 4 KiB write, median of 21; its sequential write speed, 1 GiB direct and
// buffered), then a table, one summary line per format (with the worker threads' busy share
// during the full backup) and one machine line. Put BENCH_DIR on the disk you mean to measure:
// the datastore lives there (tmpdir() by default). onebackup's figures are those of a running
// engine (bench/ours.mjs: each process warms its worker pool with a 16 MiB backup before the
// clock starts, as the daemon has done before any backup but its first); that start-up is printed
// on its own line. BENCH_WARMUP=0 times fresh processes instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const SIZE = process.argv[2] ?? '2G';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WORKERS = 2;
const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'onebackup-bench-'));
const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(root, 'restic-cache') };

function need(cmd, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`bench: ${cmd} is missing; install it with: apt-get install -y ${pkg}`);
    process.exit(2);
  }
}
need('restic', 'restic');
need('zstd', 'zstd');
need('qemu-img', 'qemu-utils');
need('mkfs.ext4', 'e2fsprogs');

function bytes(size) {
  const m = /^(\d+)([KMG]?)$/i.exec(size);
  if (!m) throw new Error(`bad size ${size}`);
  return Number(m[1]) * { '': 1, K: 1024, M: MiB, G: 1024 * MiB }[m[2].toUpperCase()];
}

/** Seeded pseudo-random bytes (AES-CTR over zeros): the same image on every machine run. */
function seeded(seed, length) {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Bytes of the files under path (apparent sizes: what a backup stored). */
function du(path) {
  return Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]);
}

/** Bytes actually allocated on disk (a sparse image's holes do not count). */
function allocatedBytes(path) {
  return Number(execFileSync('du', ['-s', '--block-size=1', path]).toString().split('\t')[0]);
}

function time(cmd, args, options = {}) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MiB, ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { ms: performance.now() - t, stdout: r.stdout.toString() };
}

/**
 * Where the image's source tree is put together: tmpfs when it has room. Tens of thousands of
 * files created and deleted on the measured filesystem just before the tools run are not the
 * tools' work: on an ext4 without a journal (this machine's) every file created in the next
 * minute skips the inodes freed in that minute one by one (ext4's recently_deleted), which cost
 * the backup's chunk files 6 % of its CPU in a profile.
 */
function scratchRoot(total) {
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > total * 2) return mkdtempSync(join('/dev/shm', 'onebackup-bench-src-'));
  } catch {}
  return mkdtempSync(join(root, 'src-'));
}

function buildImage(path, size) {
  const total = bytes(size);
  const scratch = scratchRoot(total);
  try {
    fillImage(path, total, join(scratch, 'src'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Makes `path` an ext4 image of `total` bytes holding the files put together under `src`. */
function fillImage(path, total, src) {
  mkdirSync(src);
  // Real files from /usr, in a fixed order, up to 45% of the image.
  let budget = total * 0.45;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of entries) {
      if (budget <= 0) return;
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 64 * MiB) {
        const to = join(src, relative('/usr', p));
        mkdirSync(dirname(to), { recursive: true });
        try {
          copyFileSync(p, to);
          budget -= st.size;
        } catch {}
      }
    }
  };
  for (const d of ['/usr/lib', '/usr/share', '/usr/bin', '/usr/include']) walk(d);
  // Incompressible data: 16% of the image, in 8 MiB files.
  mkdirSync(join(src, 'random'));
  for (let i = 0; i < Math.floor((total * 0.16) / (8 * MiB)); i++) {
    const fd = openSync(join(src, 'random', `r${i}`), 'w');
    writeSync(fd, seeded(`r${i}`, 8 * MiB));
    closeSync(fd);
  }
  execFileSync('truncate', ['-s', String(total), path]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0,nodiscard', '-d', src, path]);
}

/** Overwrites 5% of the image's 4 MiB blocks (seeded choice and content). */
function changeFivePercent(path) {
  const size = statSync(path).size;
  const blocks = Math.floor(size / CHUNK);
  const pick = seeded('blocks', blocks * 4);
  const chosen = new Set();
  for (let i = 0; chosen.size < Math.ceil(blocks * 0.05); i++)
    chosen.add((pick.readUInt32LE((i % blocks) * 4) % blocks) ^ ((i / blocks) | 0));
  const fd = openSync(path, 'r+');
  for (const b of chosen) writeSync(fd, seeded(`b${b}`, CHUNK), 0, CHUNK, b * CHUNK);
  closeSync(fd);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The filesystem under `dir`, its flush latency and its sequential write speed. */
function machine(dir) {
  const fs = execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir]).toString().trim();
  const flushes = [];
  for (let i = 0; i < 21; i++) {
    const path = join(dir, `flush-${i}`);
    const fd = openSync(path, 'w');
    writeSync(fd, seeded(`f${i}`, 4096));
    const t = performance.now();
    fsyncSync(fd);
    flushes.push(performance.now() - t);
    closeSync(fd);
    unlinkSync(path);
  }
  const write = (flags) => {
    const path = join(dir, 'seq');
    const t = performance.now();
    execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=4M', 'count=256', ...flags], { stdio: 'ignore' });
    const mbs = (1024 * MiB) / 1e6 / ((performance.now() - t) / 1000);
    rmSync(path);
    return mbs;
  };
  return {
    fs,
    flushMs: median(flushes),
    directMBs: write(['oflag=direct', 'conv=fsync']),
    bufferedMBs: write(['conv=fsync']),
  };
}

function ours(op, format, args) {
  const r = time(process.execPath, ['bench/ours.mjs', op, format, ...args]);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

function runFormat(format, pristineRaw) {
  const res = {
    ours: { full: [], incr: [], restore: [], stored: [], rss: [], busy: [], flushMs: [], startup: [] },
    restic: { full: [], incr: [], restore: [], stored: [] },
    zstd: [],
  };
  for (let run = 0; run < RUNS; run++) {
    const dir = join(root, `${format}-${run}`);
    mkdirSync(dir);
    const raw = join(dir, 'disk.raw');
    execFileSync('cp', ['--sparse=always', pristineRaw, raw]);
    let image = raw;
    if (format === 'qcow2') {
      image = join(dir, 'disk.qcow2');
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, image]);
    }
    // The copies' writeback is no tool's work: a flush by the first tool would pay for it.
    execFileSync('sync', ['-f', dir]);
    // Nor is the first read of a file just copied (here it cost the first reader up to 3 s of
    // system time once): read it once untimed, so every tool reads the same settled page cache.
    execFileSync('sh', ['-c', `cat "${image}" > /dev/null`]);
    // zstd -1 -T2 of the same file.
    res.zstd.push(time('sh', ['-c', `zstd -q -1 -T2 -c "${image}" > /dev/null`]).ms);
    // onebackup
    const ds = join(dir, 'ds');
    const full = ours('backup', format, [image, ds, 'full.json', String(WORKERS)]);
    res.ours.full.push(full.ms);
    res.ours.rss.push(full.rssMiB);
    res.ours.busy.push(full.busy);
    res.ours.flushMs.push(full.flushMs);
    res.ours.startup.push(full.startupMs);
    res.ours.stored.push(du(ds));
    // restic
    const repo = join(dir, 'repo');
    time('restic', ['-r', repo, 'init', '-q']);
    res.restic.full.push(time('restic', ['-r', repo, 'backup', '-q', image]).ms);
    res.restic.stored.push(du(repo));
    // 5% change, then incrementals
    changeFivePercent(raw);
    if (format === 'qcow2') execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, image]);
    execFileSync('sync', ['-f', dir]);
    const incr = ours('backup', format, [image, ds, 'incr.json', String(WORKERS), 'full.json']);
    res.ours.incr.push(incr.ms);
    res.ours.rss.push(incr.rssMiB);
    res.restic.incr.push(time('restic', ['-r', repo, 'backup', '-q', image]).ms);
    // restores of the latest backup
    const target = join(dir, `restored.${format}`);
    const rest = ours('restore', format, [ds, 'incr.json', target, String(WORKERS)]);
    res.ours.restore.push(rest.ms);
    res.ours.rss.push(rest.rssMiB);
    res.restic.restore.push(
      time('restic', ['-r', repo, 'restore', '-q', 'latest', '--target', join(dir, 'restic-restore')]).ms,
    );
    execFileSync('qemu-img', ['compare', '-q', image, target]);
    // The big files go now (disk space); the datastore's and restic's many small files stay until
    // the bench ends, so no run creates its files among inodes the previous run just freed.
    for (const f of [raw, image, target, join(dir, 'restic-restore')])
      rmSync(f, { recursive: true, force: true });
  }
  return res;
}

console.log(
  `bench: ${SIZE} image, ${RUNS} runs per figure, ${WORKERS} workers, ${availableParallelism()} cores; work dir ${root}`,
);
const host = machine(root);
const machineLine =
  `machine fs=${host.fs} flush_ms=${host.flushMs.toFixed(2)} write_direct_mbs=${host.directMBs.toFixed(0)} ` +
  `write_buffered_mbs=${host.bufferedMBs.toFixed(0)} sync_level=${process.env.BENCH_SYNC_LEVEL ?? 'filesystem'} ` +
  `cores=${availableParallelism()} load=${loadavg()[0].toFixed(2)}`;
console.log(
  `datastore on ${host.fs}: flush (fsync of 4 KiB) ${host.flushMs.toFixed(2)} ms median; sequential write ${host.directMBs.toFixed(0)} MB/s direct, ${host.bufferedMBs.toFixed(0)} MB/s buffered`,
);
const pristine = join(root, 'image.raw');
const t0 = performance.now();
buildImage(pristine, SIZE);
const allocated = allocatedBytes(pristine);
console.log(
  `image built in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${(bytes(SIZE) / MiB).toFixed(0)} MiB virtual, ${(allocated / MiB).toFixed(0)} MiB allocated`,
);

const summaries = [];
const rows = [['format', 'figure', 'onebackup', 'restic', 'zstd -1 -T2', 'ratio vs restic']];
for (const format of ['raw', 'qcow2']) {
  const r = runFormat(format, pristine);
  const s = (xs) => (median(xs) / 1000).toFixed(2);
  const ratio = (a, b) => (median(a) / median(b)).toFixed(2);
  rows.push([
    format,
    'full backup (s)',
    s(r.ours.full),
    s(r.restic.full),
    s(r.zstd),
    ratio(r.ours.full, r.restic.full),
  ]);
  rows.push([
    format,
    '5% incremental (s)',
    s(r.ours.incr),
    s(r.restic.incr),
    '',
    ratio(r.ours.incr, r.restic.incr),
  ]);
  rows.push([
    format,
    'restore (s)',
    s(r.ours.restore),
    s(r.restic.restore),
    '',
    ratio(r.ours.restore, r.restic.restore),
  ]);
  rows.push([
    format,
    'stored (MiB)',
    (median(r.ours.stored) / MiB).toFixed(0),
    (median(r.restic.stored) / MiB).toFixed(0),
    '',
    ratio(r.ours.stored, r.restic.stored),
  ]);
  rows.push([format, 'peak RSS (MiB)', Math.max(...r.ours.rss).toFixed(0), '', '', '']);
  rows.push([format, 'workers busy, full (%)', (median(r.ours.busy) * 100).toFixed(0), '', '', '']);
  rows.push([format, 'flush before manifest (ms)', median(r.ours.flushMs).toFixed(1), '', '', '']);
  rows.push([format, 'start-up, not in the figures (ms)', median(r.ours.startup).toFixed(0), '', '', '']);
  summaries.push(
    `summary format=${format} full_vs_restic=${ratio(r.ours.full, r.restic.full)} incr_vs_restic=${ratio(r.ours.incr, r.restic.incr)} ` +
      `restore_vs_restic=${ratio(r.ours.restore, r.restic.restore)} stored_vs_restic=${ratio(r.ours.stored, r.restic.stored)} ` +
      `full_vs_zstd=${ratio(r.ours.full, r.zstd)} rss_mib=${Math.max(...r.ours.rss).toFixed(0)} ` +
      `busy_full=${median(r.ours.busy).toFixed(2)} full_s=${s(r.ours.full)} restore_s=${s(r.ours.restore)} ` +
      `startup_ms=${median(r.ours.startup).toFixed(0)}`,
  );
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
for (const row of rows)
  console.log(
    row
      .map((c, i) => String(c).padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
for (const line of summaries) console.log(line);
console.log(`${machineLine} load_end=${loadavg()[0].toFixed(2)}`);
if (!process.env.BENCH_KEEP) rmSync(root, { recursive: true, force: true });
