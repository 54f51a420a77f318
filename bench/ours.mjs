// One run of onebackup's engine in its own process, so its peak RSS can be measured:
//   node bench/ours.mjs backup <format> <image> <datastore dir> <manifest> <workers> [previous manifest]
//   node bench/ours.mjs restore <format> <datastore dir> <manifest> <target> <workers>
// Prints one JSON line: { ms, startupMs, stored, rssMiB, busy, flushMs }. `ms` is the operation in
// a running engine, as the daemon runs every backup but its first: before the clock starts, the
// process starts the worker pool and warms it with a backup of a 16 MiB disk of its own (and before
// a restore, a restore of it; throwaway files beside the datastore), which starts the worker
// threads, the process-spawning thread and the chunk buffers and compiles the hot path.
// `startupMs` is that warm-up, the pool's start included (what a fresh daemon's first backup pays
// on top). BENCH_WARMUP=0 skips it: `ms` is then a fresh process's, its pool's start included.
// busy is the worker threads' busy share during the run, flushMs the time of the datastore's flush
// before the manifest. Encrypted, zstd level 1, as a production datastore; SYNC_LEVEL from
// $BENCH_SYNC_LEVEL (default filesystem).
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { runBackup } from '../dist/core/engine/backup.js';
import { decodeManifest } from '../dist/core/engine/manifest.js';
import { ChunkPool } from '../dist/core/engine/pool.js';
import { restoreDisk } from '../dist/core/engine/restore.js';
import { DEFAULT_CHUNK_ID_HASH } from '../dist/core/model.js';
import { localDatastore } from '../dist/drivers/datastore/local.js';
import { fsDriver } from '../dist/drivers/hypervisor/fs.js';

const [op, format, ...rest] = process.argv.slice(2);
const key = createHash('sha512').update('onebackup bench key').digest();
const keys = { mac: key.subarray(0, 32), enc: key.subarray(32) };
const syncLevel = process.env.BENCH_SYNC_LEVEL ?? 'filesystem';
const MiB = 1024 * 1024;

/** The local driver, with its flush timed. */
async function openDatastore(basePath, timing) {
  const driver = await localDatastore.open({ id: 1, basePath, syncLevel });
  const flush = driver.flush.bind(driver);
  driver.flush = async (o) => {
    const t = performance.now();
    await flush(o);
    timing.flushMs += performance.now() - t;
  };
  return driver;
}

/** A backup of `image` (raw or qcow2) into the datastore at `dsDir`; returns the manifest. */
async function backup(pool, image, imageFormat, dsDir, manifest, previousPath, timing) {
  const datastore = await openDatastore(dsDir, timing);
  const facts = await fsDriver.inspect(image, imageFormat);
  const disk = { diskId: 0, source: image, format: imageFormat, virtualSize: facts.virtualSize };
  const pit = await fsDriver.prepare(
    { id: 1, state: 'POWEROFF', disks: [disk] },
    { freeze: 'NONE', scratchDir: `${dsDir}-scratch` },
  );
  try {
    return await runBackup({
      pit,
      hypervisor: fsDriver,
      datastore,
      pool,
      compression: 'zstd',
      compressionLevel: 1,
      keys,
      // What a new datastore names its chunks with.
      chunkIds: DEFAULT_CHUNK_ID_HASH,
      manifestPath: manifest,
      parent: null,
      now: () => Date.now(),
      previous: previousPath
        ? decodeManifest(await datastore.getManifest(previousPath), previousPath, keys)
        : undefined,
    });
  } finally {
    await fsDriver.release(pit);
  }
}

/** A restore of the first disk of `manifest` in the datastore at `dsDir` to `target`. */
async function restore(pool, dsDir, manifest, target, timing) {
  const datastore = await openDatastore(dsDir, timing);
  const m = decodeManifest(await datastore.getManifest(manifest), manifest, keys);
  const disk = m.disks[0];
  const writer = await fsDriver.createDisk(target, disk.format, disk.virtualSize, {
    partial: `${target}.part`,
    resume: false,
    overwrite: false,
  });
  await restoreDisk({ manifest: m, disk, writer, datastore, pool, keys, keepOnFailure: false });
}

/**
 * What the daemon has done before any backup but its first: a backup of a small disk (4 MiB of
 * seeded random bytes, 4 MiB of text, 8 MiB of hole), in throwaway files; before a restore, a
 * restore of it too.
 */
async function warmUp(pool, beside, withRestore) {
  const dir = `${beside}-warmup`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const image = `${dir}/disk.raw`;
  // Written in small pieces: the warm-up leaves no large buffers behind for the measured run's RSS.
  const piece = 64 * 1024;
  const cipher = createCipheriv('aes-256-ctr', key.subarray(0, 32), Buffer.alloc(16));
  const zeros = Buffer.alloc(piece);
  const text = Buffer.alloc(piece);
  const file = await open(image, 'w');
  for (let at = 0, line = 0; at < 8 * MiB; at += piece) {
    if (at < 4 * MiB) await file.write(cipher.update(zeros), 0, piece, at);
    else {
      for (let filled = 0; filled < piece; line++)
        filled += text.write(`line ${line} of the warm-up disk, ${(line * 7919) % 1000}\n`, filled);
      await file.write(text, 0, piece, at);
    }
  }
  await file.truncate(16 * MiB);
  await file.close();
  const timing = { flushMs: 0 };
  await backup(pool, image, 'raw', `${dir}/ds`, 'warm.json', undefined, timing);
  if (withRestore) await restore(pool, `${dir}/ds`, 'warm.json', `${dir}/restored.raw`, timing);
  await rm(dir, { recursive: true, force: true });
}

async function main() {
  const workers = Number(op === 'backup' ? rest[3] : rest[4]);
  const processStarted = performance.now();
  const pool = new ChunkPool(workers);
  const warm = process.env.BENCH_WARMUP !== '0';
  if (warm) await warmUp(pool, rest[op === 'backup' ? 1 : 0], op === 'restore');
  // Without the warm-up, the pool's start is the operation's, as in a fresh process.
  const started = warm ? performance.now() : processStarted;
  const startupMs = warm ? started - processStarted : 0;
  let stored = 0;
  const timing = { flushMs: 0 };
  pool.busyShareSinceLastCall();
  if (op === 'backup') {
    const [image, dsDir, manifest, , previousPath] = rest;
    stored = (await backup(pool, image, format, dsDir, manifest, previousPath, timing)).stats.bytesStored;
  } else {
    const [dsDir, manifest, target] = rest;
    await restore(pool, dsDir, manifest, target, timing);
  }
  const busy = pool.busyShareSinceLastCall();
  const ms = performance.now() - started;
  await pool.close();
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms, startupMs, stored, rssMiB, busy, flushMs: timing.flushMs }));
}

await main();
