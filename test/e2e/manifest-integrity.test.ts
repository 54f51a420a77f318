/**
 * Manifests are authenticated (issue 10, chunk integrity), with the real daemon and CLI: a
 * manifest changed on disk (one chunk ID with its disk digest recomputed, or a disk size; still
 * valid JSON) is found by verify, which marks the image broken (ERROR, and the broken-images
 * gauge on a real scrape), and refused by restore and by the next backup with a clear message;
 * a version 1 manifest (written before integrity) still restores bit for bit; datastore
 * templates with a bad VERIFY_INTERVAL or VERIFY_BUDGET are refused with the attribute named.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupVm, restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { sampleValue, scrape } from '../support/metrics-text.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const sha = sha256File;
const backup = (vm: number, ds: number) => backupVm(d, vm, ds);
const restore = (image: string) => restoreDisk0(d, image);

let d: RunningDaemon;
let work: string;
const cli = (name: string, args: string[]) => runCli(name, args, d);

interface ManifestJson {
  version: number;
  disks: { virtualSize: number; chunks: (string | null)[]; digest: string }[];
  integrity?: { algorithm: string; value: string };
}

function diskDigest(chunks: readonly (string | null)[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c === null ? '0\n' : `${c}\n`);
  return h.digest('hex');
}

/** The one manifest of the VM in the datastore, and a function to rewrite it. */
function manifestOf(ds: number, vm: number): { json: ManifestJson; write: (m: ManifestJson) => void } {
  const dir = join(d.stateDir, 'datastores', String(ds), 'backups', String(vm));
  const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(file, `a manifest in ${dir}`);
  const path = join(dir, file);
  return {
    json: JSON.parse(readFileSync(path, 'utf8')) as ManifestJson,
    write: (m) => writeFileSync(path, JSON.stringify(m, null, 1)),
  };
}

/** A datastore and a VM with a 12 MiB random disk, backed up once. */
async function backedUp(name: string, encrypted: boolean) {
  const ds = Number(
    await rpcOk(d, 'one.datastore.allocate', `NAME="${name}"\n${encrypted ? 'ENCRYPTION="YES"\n' : ''}`),
  );
  const disk = join(work, `${name}.raw`);
  writeFileSync(disk, randomBytes(12 * MiB));
  const vm = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="${name}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    ),
  );
  const image = await backup(vm, ds);
  return { ds, vm, disk, image };
}

before(async () => {
  work = tempDir('onebackup-manifest-');
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

describe('manifest integrity', () => {
  for (const encrypted of [true, false]) {
    const kind = encrypted ? 'encrypted' : 'plain';
    it(`a manifest with one chunk ID changed (digest recomputed) is found by verify and refused by restore and the next backup (${kind})`, async () => {
      const { ds, vm, disk, image } = await backedUp(`t${kind}`, encrypted);
      const m = manifestOf(ds, vm);
      assert.equal(m.json.version, 2);
      assert.equal(m.json.integrity?.algorithm, encrypted ? 'hmac-sha256' : 'sha256');
      const original = structuredClone(m.json);
      const d0 = m.json.disks[0];
      assert.ok(d0);
      const i = d0.chunks.findIndex((c) => c !== null);
      const [a, b] = [d0.chunks[i], d0.chunks.find((c, j) => c !== null && j !== i)];
      assert.ok(a && b);
      // Swap two chunk IDs and recompute the per-disk digest: only the integrity field can tell.
      d0.chunks[i] = b;
      d0.digest = diskDigest(d0.chunks);
      m.write(m.json);

      const verify = await cli('onedatastore', ['verify', String(ds)]);
      assert.equal(verify.code, 255);
      const why = encrypted
        ? 'MAC does not verify with the datastore key'
        : 'SHA-256 does not match its content';
      assert.match(
        verify.stderr,
        new RegExp(`${why}: the manifest was altered or damaged and is not trusted`),
      );
      const show = await cli('oneimage', ['show', image]);
      assert.match(show.stdout, new RegExp(`\\[verify\\].*${why}`));

      const refused = await restore(image);
      assert.equal(refused.code, 255);
      assert.match(refused.stderr, new RegExp(why));

      // The next backup does not trust it as the previous manifest: it encodes every chunk, and works.
      const next = await backup(vm, ds);
      assert.match(d.logs(), /previous manifest unreadable; backing up every chunk/);
      assert.equal((await restore(next)).sha, sha(disk));

      // Put back, the manifest verifies and restores again.
      m.write(original);
      assert.equal((await restore(image)).sha, sha(disk));
    });
  }

  it('a changed disk size, valid JSON otherwise, is refused by restore', async () => {
    const { ds, vm, image } = await backedUp('size', false);
    const m = manifestOf(ds, vm);
    (m.json.disks[0] as { virtualSize: number }).virtualSize += 4 * MiB;
    m.write(m.json);
    const r = await restore(image);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /manifest .*: its SHA-256 does not match its content: the manifest was altered/);
  });

  it('the broken-images gauges on a real scrape', async () => {
    const { ds, vm, image } = await backedUp('gauge', true);
    const url = d.url.replace(/\/RPC2$/, '/metrics');
    let f = (await scrape(url)).families;
    const labels = { datastore: String(ds) };
    assert.equal(sampleValue(f, 'onebackup_datastore_images_broken', labels), 0);
    assert.equal(sampleValue(f, 'onebackup_datastore_images_unverified', labels), 1);
    assert.equal(
      sampleValue(f, 'onebackup_datastore_images_verified_oldest_timestamp_seconds', labels),
      undefined,
    );
    const ok = await cli('oneimage', ['verify', image]);
    assert.equal(ok.code, 0, ok.stderr);
    f = (await scrape(url)).families;
    assert.equal(sampleValue(f, 'onebackup_datastore_images_unverified', labels), 0);
    const at = sampleValue(f, 'onebackup_datastore_images_verified_oldest_timestamp_seconds', labels) ?? 0;
    assert.ok(Math.abs(at - Date.now() / 1000) < 120, `verified at ${at}`);
    const m = manifestOf(ds, vm);
    (m.json.disks[0] as { virtualSize: number }).virtualSize -= 1;
    m.write(m.json);
    assert.equal((await cli('onedatastore', ['verify', String(ds)])).code, 255);
    f = (await scrape(url)).families;
    assert.equal(sampleValue(f, 'onebackup_datastore_images_broken', labels), 1);
    assert.equal(sampleValue(f, 'onebackup_datastore_images_unverified', labels), 0);
  });

  for (const encrypted of [false, true]) {
    it(`a version 1 manifest (before integrity) still verifies and restores bit for bit (${encrypted ? 'encrypted' : 'plain'})`, async () => {
      const { ds, vm, disk, image } = await backedUp(`v1${encrypted ? 'e' : 'p'}`, encrypted);
      const m = manifestOf(ds, vm);
      const { integrity: _gone, ...v1 } = m.json;
      m.write({ ...v1, version: 1 });
      assert.equal((await cli('onedatastore', ['verify', String(ds)])).code, 0);
      assert.equal((await restore(image)).sha, sha(disk));
    });
  }

  it('create refuses a bad VERIFY_INTERVAL or VERIFY_BUDGET, naming the attribute; show lists good ones', async () => {
    const tmpl = join(work, 'bad.tmpl');
    writeFileSync(tmpl, 'NAME="bad"\nVERIFY_INTERVAL="often"\nVERIFY_BUDGET="2 parsecs"\n');
    const bad = await cli('onedatastore', ['create', tmpl]);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /VERIFY_INTERVAL="often": write a number of hours/);
    assert.match(bad.stderr, /VERIFY_BUDGET="2 parsecs": unknown unit "parsecs"/);
    writeFileSync(tmpl, 'NAME="nointerval"\nVERIFY_BUDGET="1 GiB"\n');
    const alone = await cli('onedatastore', ['create', tmpl]);
    assert.equal(alone.code, 255);
    assert.match(alone.stderr, /VERIFY_BUDGET limits the scheduled verify: give VERIFY_INTERVAL too/);
    writeFileSync(tmpl, 'NAME="cron"\nVERIFY_INTERVAL="0 61 * * *"\n');
    assert.match(
      (await cli('onedatastore', ['create', tmpl])).stderr,
      /VERIFY_INTERVAL="0 61 \* \* \*": hour field "61": 61 is out of range 0-23/,
    );
    writeFileSync(tmpl, 'NAME="good"\nVERIFY_INTERVAL="24"\nVERIFY_BUDGET="10 min"\n');
    const good = await cli('onedatastore', ['create', tmpl]);
    assert.equal(good.code, 0, good.stderr);
    const show = await cli('onedatastore', ['show', 'good']);
    assert.match(show.stdout, /VERIFY_INTERVAL="24"/);
    assert.match(show.stdout, /VERIFY_BUDGET="10 min"/);
  });
});
