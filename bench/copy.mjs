// The second copy of backups (issue 12, item 4): copy throughput of a whole datastore's backup
// into an empty local datastore (core/engine/copy.ts: chunks read, checked by decoding, written,
// one flush, the manifest) against `cp -r` of the same datastore directory, as a ratio of
// medians of 3 (each run into a fresh directory on the same filesystem). Also the re-encoding
// copy (encrypted -> encrypted with another key) and an increment's copy (2 chunks changed).
// Usage: npm run bench:copy [-- --mib 512]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const { tempDir, cleanup } = await import(join(DIST, 'test/support/daemon.js'));
const { localDatastore } = await import(join(DIST, 'drivers/datastore/local.js'));
const { fsDriver } = await import(join(DIST, 'drivers/hypervisor/fs.js'));
const { ChunkPool } = await import(join(DIST, 'core/engine/pool.js'));
const { backupFiles } = await import(join(DIST, 'test/support/file-backups.js'));
const { copyIncrement, previousPair } = await import(join(DIST, 'core/engine/copy.js'));
const { decodeManifest } = await import(join(DIST, 'core/engine/manifest.js'));

const i = process.argv.indexOf('--mib');
const MIB = i > 0 ? Number(process.argv[i + 1]) : 512;
const root = tempDir('onebackup-bench-copy-');
const pool = new ChunkPool(0);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mibps = (ms) => (MIB / (ms / 1000)).toFixed(0);

/** Half random, half compressible text: what a VM disk's used blocks look like to zstd. */
function makeDisk(path) {
  const fd = openSync(path, 'w');
  const text = Buffer.from('onebackup bench line of a log file with some numbers 0123456789\n'.repeat(65536));
  for (let m = 0; m < MIB; m += 4) {
    const b = m % 8 === 0 ? randomBytes(4 << 20) : text.subarray(0, 4 << 20);
    writeSync(fd, b, 0, b.length, m << 20);
  }
  closeSync(fd);
}

async function backup(side, path, previous) {
  const disk = join(root, 'disk.raw');
  const facts = await fsDriver.inspect(disk, 'raw');
  return backupFiles({
    pool,
    datastore: side.driver,
    disks: [{ diskId: 0, source: disk, format: 'raw', virtualSize: facts.virtualSize }],
    scratchDir: join(root, 'scratch'),
    path,
    previous,
    keys: side.keys,
    vmId: 1,
  });
}

const open = async (name, keys) => ({
  id: 1,
  driver: await localDatastore.open({ id: 1, basePath: join(root, name) }),
  keys,
  compression: 'zstd',
  level: 1,
});
const key = () => ({ mac: randomBytes(32), enc: randomBytes(32) });
const timed = async (fn) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

try {
  makeDisk(join(root, 'disk.raw'));
  const plain = await open('plain', undefined);
  const enc = await open('enc', key());
  await backup(plain, '1/a.json');
  await backup(enc, '1/a.json');
  const cp = [],
    copy = [],
    reenc = [];
  for (let run = 0; run < 3; run++) {
    cp.push(await timed(() => execFileSync('cp', ['-r', join(root, 'plain'), join(root, `cp-${run}`)])));
    const t = await open(`copy-${run}`, undefined);
    copy.push(
      await timed(() =>
        copyIncrement({ source: plain, target: t, manifestPath: '1/a.json', pool, now: Date.now }),
      ),
    );
    const e = await open(`reenc-${run}`, key());
    reenc.push(
      await timed(() =>
        copyIncrement({ source: enc, target: e, manifestPath: '1/a.json', pool, now: Date.now }),
      ),
    );
    execFileSync('sync');
  }
  // An increment: 2 chunks changed; its copy reads and writes those two only.
  const fd = openSync(join(root, 'disk.raw'), 'r+');
  writeSync(fd, randomBytes(8 << 20), 0, 8 << 20, 4 << 20);
  closeSync(fd);
  const previousManifest = decodeManifest(await enc.driver.getManifest('1/a.json'), '1/a.json', enc.keys);
  await backup(enc, '1/b.json', previousManifest);
  const t0 = await open('reenc-inc', key());
  await copyIncrement({ source: enc, target: t0, manifestPath: '1/a.json', pool, now: Date.now });
  const previous = await previousPair(enc, t0, '1/a.json');
  let inc;
  const incMs = await timed(async () => {
    inc = await copyIncrement({
      source: enc,
      target: t0,
      manifestPath: '1/b.json',
      previous,
      pool,
      now: Date.now,
    });
  });
  console.log(
    `disk ${MIB} MiB (half random, half text), one backup; medians of 3, ${pool.threads} worker threads`,
  );
  console.log(
    `cp -r of the datastore          ${median(cp).toFixed(0)} ms  ${mibps(median(cp))} MiB/s of disk`,
  );
  console.log(
    `copy, plain -> plain            ${median(copy).toFixed(0)} ms  ${mibps(median(copy))} MiB/s  ratio to cp -r ${(median(cp) / median(copy)).toFixed(2)}`,
  );
  console.log(
    `copy, encrypted -> other key    ${median(reenc).toFixed(0)} ms  ${mibps(median(reenc))} MiB/s  ratio to cp -r ${(median(cp) / median(reenc)).toFixed(2)}`,
  );
  console.log(
    `increment copy (2 chunks new)   ${incMs.toFixed(0)} ms  ${inc.chunksWritten} chunks written, ${(inc.bytesRead / 1048576).toFixed(1)} MiB read of ${inc.chunks} chunks`,
  );
} finally {
  await pool.close();
  cleanup(root);
}
