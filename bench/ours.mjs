// One run of onebackup's engine in its own process, so its peak RSS can be measured:
//   node bench/ours.mjs backup <format> <image> <datastore dir> <manifest> <workers> [previous manifest]
//   node bench/ours.mjs restore <format> <datastore dir> <manifest> <target> <workers>
// Prints one JSON line: { ms, stored, rssMiB, busy, flushMs }: busy is the worker threads' busy
// share during the run, flushMs the time of the datastore's flush before the manifest. Encrypted,
// zstd level 1, as a production datastore; SYNC_LEVEL from $BENCH_SYNC_LEVEL (default filesystem).
import { createHash } from 'node:crypto';
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

async function main() {
  const started = performance.now();
  let stored = 0;
  let busy = 0;
  const timing = { flushMs: 0 };
  if (op === 'backup') {
    const [image, dsDir, manifest, workers, previousPath] = rest;
    const pool = new ChunkPool(Number(workers));
    const datastore = await openDatastore(dsDir, timing);
    const facts = await fsDriver.inspect(image, format);
    const disk = { diskId: 0, source: image, format, virtualSize: facts.virtualSize };
    const pit = await fsDriver.prepare(
      { id: 1, state: 'POWEROFF', disks: [disk] },
      { freeze: 'NONE', scratchDir: `${dsDir}-scratch` },
    );
    try {
      pool.busyShareSinceLastCall();
      const m = await runBackup({
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
      busy = pool.busyShareSinceLastCall();
      stored = m.stats.bytesStored;
    } finally {
      await fsDriver.release(pit);
      await pool.close();
    }
  } else {
    const [dsDir, manifest, target, workers] = rest;
    const pool = new ChunkPool(Number(workers));
    const datastore = await openDatastore(dsDir, timing);
    const m = decodeManifest(await datastore.getManifest(manifest), manifest, keys);
    const disk = m.disks[0];
    const writer = await fsDriver.createDisk(target, disk.format, disk.virtualSize, {
      partial: `${target}.part`,
      resume: false,
      overwrite: false,
    });
    pool.busyShareSinceLastCall();
    await restoreDisk({ manifest: m, disk, writer, datastore, pool, keys, keepOnFailure: false });
    busy = pool.busyShareSinceLastCall();
    await pool.close();
  }
  const ms = performance.now() - started;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms, stored, rssMiB, busy, flushMs: timing.flushMs }));
}

await main();
