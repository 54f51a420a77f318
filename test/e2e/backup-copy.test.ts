/**
 * The second copy of backups (COPY_DATASTORE_ID) through the real daemon, CLIs, disk images and a
 * real sshd: a job's backups appear in the copy target, an increment copies only its new chunks,
 * KEEP_LAST holds in the copy, and the copy restores bit for bit after the primary's directory is
 * deleted (asked for, or as the fallback); an rsync target that is down leaves the copy FAILED
 * with the reason while the next backups work, and the copy completes once it is back; a daemon
 * killed (-9) mid-copy finishes the copy after its restart (encrypted source and target, keys
 * differing).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupCopyOf, backupVm, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { chunkFiles, manifestFiles } from '../support/datastore-faults.js';
import { rpcOk } from '../support/rpc.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { checkAgainstXsd } from '../support/xsd-check.js';

const MiB = 1024 * 1024;
let work: string;
let sshd: TestSshd;
let d: RunningDaemon;
const cli = (name: string, args: string[]) => runCli(name, args, d);
const vmDisk = (vm: number) => join(work, 'vms', `vm${vm}.raw`);
const dsDir = (name: string) => join(work, 'ds', name);

async function eventually(what: string, cond: () => boolean | Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n${d.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function createDs(name: string, template: string): Promise<number> {
  const file = join(work, `${name}.tmpl`);
  writeFileSync(file, `NAME = "${name}"\nTYPE = "BACKUP_DS"\n${template}\n`);
  const r = await cli('onedatastore', ['create', file]);
  assert.equal(r.code, 0, r.stderr);
  return Number(/ID: (\d+)/.exec(r.stdout)?.[1]);
}

const copyOf = (image: string, target: number) => backupCopyOf(d, image, target);

async function restore(
  image: string,
  args: string[] = [],
): Promise<{ code: number; out: string; sha?: string }> {
  const to = tempDir('onebackup-copy-restore-');
  try {
    const r = await cli('oneimage', ['restore', image, '--disk-id', '0', '--to', to, ...args]);
    const file = /DISK 0: (\S+)/.exec(r.stdout)?.[1];
    return { code: r.code, out: r.stdout + r.stderr, ...(file ? { sha: sha256File(file) } : {}) };
  } finally {
    cleanup(to);
  }
}

/** Overwrites `count` 4 MiB chunks of a VM's disk (at chunk indexes 1, 3, 5, ...) with new data. */
function changeChunks(vm: number, count: number): void {
  const fd = openSync(vmDisk(vm), 'r+');
  for (let i = 0; i < count; i++) writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, (1 + 2 * i) * 4 * MiB);
  closeSync(fd);
}

before(async () => {
  work = tempDir('onebackup-copy-e2e-');
  mkdirSync(join(work, 'vms'));
  mkdirSync(join(work, 'ds'));
  sshd = await startSshd(work);
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
  for (const [vm, mib] of [
    [0, 32],
    [1, 16],
    [2, 256],
  ] as const) {
    writeFileSync(vmDisk(vm), randomBytes(mib * MiB));
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME = "vm-${vm}"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${vmDisk(vm)}" ]\n`,
    );
  }
});

after(async () => {
  await d?.stop();
  await sshd?.stop();
  cleanup(work);
});

describe('a second copy of every backup', () => {
  it('a job backup appears in the copy target; an increment copies only its new chunks; KEEP_LAST holds there; the copy restores bit for bit once the primary is gone', async () => {
    const copy = await createDs('copy', `BASE_PATH = "${dsDir('copy')}"`);
    const bad = join(work, 'bad.tmpl');
    writeFileSync(bad, `NAME = "bad"\nCOPY_DATASTORE_ID = 999\n`);
    const refused = await cli('onedatastore', ['create', bad]);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /COPY_DATASTORE_ID="999": there is no backup datastore 999/);
    const primary = await createDs(
      'primary',
      `BASE_PATH = "${dsDir('primary')}"\nCOPY_DATASTORE_ID = ${copy}`,
    );
    writeFileSync(
      join(work, 'job.tmpl'),
      `NAME = "copied"\nBACKUP_VMS = "0"\nDATASTORE_ID = ${primary}\nMODE = "INCREMENT"\nKEEP_LAST = 2\n`,
    );
    const job = await cli('onebackupjob', ['create', join(work, 'job.tmpl')]);
    assert.equal(job.code, 0, job.stderr);
    const jobId = (/ID: (\d+)/.exec(job.stdout) as RegExpExecArray)[1] as string;
    let runs = 0;
    const runJob = async () => {
      runs += 1;
      assert.equal((await cli('onebackupjob', ['backup', jobId])).code, 0);
      await eventually(`job run ${runs}`, async () => {
        const xml = (await cli('onebackupjob', ['show', jobId, '-x'])).stdout;
        return (
          /<UPDATED_VMS>\s*<ID>0<\/ID>/.test(xml) &&
          !/<OUTDATED_VMS>\s*<ID>/.test(xml) &&
          /<LAST_INCREMENT_ID>(?:<!\[CDATA\[)?(\d+)/.exec(
            (await cli('onevm', ['show', '0', '-x'])).stdout,
          )?.[1] === String(runs - 1)
        );
      });
    };
    await runJob();
    const image = /<BACKUP_IDS>\s*<ID>(\d+)<\/ID>/.exec(
      (await cli('onevm', ['show', '0', '-x'])).stdout,
    )?.[1] as string;
    await eventually('the copy', async () => (await copyOf(image, copy))?.['STATE'] === 'COPIED');
    const names = (files: string[]) => files.map((f) => basename(f)).sort();
    assert.deepEqual(names(chunkFiles(dsDir('copy'))), names(chunkFiles(dsDir('primary'))));
    assert.equal(manifestFiles(dsDir('copy')).length, 1);
    const xml = (await cli('oneimage', ['show', image, '-x'])).stdout;
    assert.deepEqual(checkAgainstXsd('image', xml), [], 'BACKUP_COPY keeps the IMAGE document valid');
    const deleting = await cli('onedatastore', ['delete', String(copy)]);
    assert.equal(deleting.code, 255);
    assert.match(deleting.stderr, new RegExp(`is the COPY_DATASTORE_ID of datastores ${primary}`));
    const show = await cli('oneimage', ['show', image]);
    assert.match(
      show.stdout,
      /COPIES[\s\S]*DATASTORE \d+ \(copy\): COPIED \(increments: 1 copied, 0 pending, 0 failed/,
    );

    // An increment: two chunks changed, two chunk files more in both datastores.
    const before = chunkFiles(dsDir('copy')).length;
    changeChunks(0, 2);
    await runJob();
    await eventually(
      'the increment copied',
      async () => (await copyOf(image, copy))?.['COPIED_INCREMENTS'] === '0,1',
    );
    assert.equal(chunkFiles(dsDir('primary')).length, before + 2);
    assert.equal(chunkFiles(dsDir('copy')).length, before + 2);
    assert.deepEqual(names(chunkFiles(dsDir('copy'))), names(chunkFiles(dsDir('primary'))));
    const written = Number((await copyOf(image, copy))?.['CHUNKS_WRITTEN']);
    assert.equal(written, before + 2, 'the increment wrote its two chunks only');

    // KEEP_LAST = 2: the third backup drops increment 0 in both datastores.
    changeChunks(0, 1);
    await runJob();
    await eventually('increment 0 dropped from the copy', async () => {
      const c = await copyOf(image, copy);
      return c?.['COPIED_INCREMENTS'] === '1,2' && manifestFiles(dsDir('copy')).length === 2;
    });
    assert.deepEqual(names(manifestFiles(dsDir('copy'))), names(manifestFiles(dsDir('primary'))));
    // A verify of the copy target that finds a copy's chunk corrupt marks the copy FAILED (not the
    // image ERROR), and the copier copies the chunk again.
    const victim = chunkFiles(dsDir('copy'))[0] as string;
    const good = readFileSync(victim);
    const torn = Buffer.from(good);
    torn[torn.length - 1] = (torn[torn.length - 1] as number) ^ 0xff;
    writeFileSync(victim, torn);
    const verify = await cli('onedatastore', ['verify', String(copy)]);
    assert.notEqual(verify.code, 0, 'the verify reports the problem');
    await eventually('the copy repaired', () => existsSync(victim) && readFileSync(victim).equals(good));
    await eventually(
      'the copy COPIED again',
      async () => (await copyOf(image, copy))?.['STATE'] === 'COPIED',
    );
    assert.doesNotMatch((await cli('oneimage', ['show', image, '-x'])).stdout, /<STATE>5<\/STATE>/);
    assert.equal((await cli('onedatastore', ['verify', String(copy)])).code, 0);
    const metrics = await (await fetch(d.url.replace(/\/RPC2$/, '/metrics'))).text();
    assert.match(metrics, new RegExp(`onebackup_image_copies\\{datastore="${copy}",state="copied"\\} 1`));

    // The primary's directory is lost: the copy restores, asked for or as the fallback.
    const expected = sha256File(vmDisk(0));
    rmSync(dsDir('primary'), { recursive: true, force: true });
    const asked = await restore(image, ['--datastore', String(copy)]);
    assert.equal(asked.code, 0, asked.out);
    assert.equal(asked.sha, expected);
    assert.match(asked.out, new RegExp(`FROM COPY: datastore ${copy} \\(the copy, as asked\\)`));
    const fallback = await restore(image);
    assert.equal(fallback.code, 0, fallback.out);
    assert.equal(fallback.sha, expected);
    assert.match(
      fallback.out,
      new RegExp(`FROM COPY: datastore ${copy} \\(the copy\\): datastore ${primary} failed: `),
    );
    assert.equal((await cli('onebackupjob', ['delete', jobId])).code, 0);
  });

  it('an rsync copy target that is down: the copy is FAILED with the reason, the next backups work, and the copy completes once it is back', async () => {
    const offsite = await createDs('offsite', sshd.attributes(join(work, 'server', 'copies')));
    const primary = await createDs(
      'primary2',
      `BASE_PATH = "${dsDir('primary2')}"\nCOPY_DATASTORE_ID = ${offsite}`,
    );
    const first = await backupVm(d, 1, primary);
    await eventually('the first copy', async () => (await copyOf(first, offsite))?.['STATE'] === 'COPIED');
    await sshd.stop();
    try {
      changeChunks(1, 1);
      const second = await backupVm(d, 1, primary);
      await eventually(
        'the copy failing',
        async () => (await copyOf(second, offsite))?.['STATE'] === 'FAILED',
      );
      const failed = (await copyOf(second, offsite)) as Record<string, string>;
      assert.match(failed['REASON'] as string, new RegExp(`^datastore ${offsite}: `));
      assert.match((await cli('oneimage', ['show', second])).stdout, /FAILED[\s\S]*REASON: datastore/);
      // The next backup still works while the target is down.
      changeChunks(1, 1);
      const third = await backupVm(d, 1, primary);
      assert.equal((await restore(third)).sha, sha256File(vmDisk(1)));
      await sshd.start();
      // The next backup retries the failed copies.
      const fourth = await backupVm(d, 1, primary);
      for (const image of [second, third, fourth])
        await eventually(
          `image ${image} copied`,
          async () => (await copyOf(image, offsite))?.['STATE'] === 'COPIED',
        );
      const r = await restore(fourth, ['--datastore', String(offsite)]);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.sha, sha256File(vmDisk(1)));
      // oneimage delete takes the image's copy from the target too.
      const server = join(work, 'server', 'copies');
      const before = manifestFiles(server).length;
      assert.equal((await cli('oneimage', ['delete', first])).code, 0);
      await eventually(
        'the copy of the deleted image gone',
        () => manifestFiles(server).length === before - 1,
      );
    } finally {
      if (!sshd.running()) await sshd.start();
    }
  });

  it('kill -9 mid-copy (encrypted source and target, other keys): the copy finishes after the restart, reusing what it wrote', async () => {
    const copy = await createDs('enc-copy', `BASE_PATH = "${dsDir('enc-copy')}"\nENCRYPTION = "YES"`);
    const primary = await createDs(
      'enc-primary',
      `BASE_PATH = "${dsDir('enc-primary')}"\nENCRYPTION = "YES"\nCOPY_DATASTORE_ID = ${copy}`,
    );
    const started = await cli('onevm', ['backup', '2', '-d', String(primary)]);
    assert.equal(started.code, 0, started.stderr);
    // Cut while the copy writes: some chunks in the target, no manifest yet.
    await eventually('the copy writing', () => chunkFiles(dsDir('enc-copy')).length >= 2, 120_000);
    await d.stop('SIGKILL');
    const atKill = chunkFiles(dsDir('enc-copy')).length;
    assert.equal(manifestFiles(dsDir('enc-copy')).length, 0, 'the copy was cut before its manifest');
    const total = chunkFiles(dsDir('enc-primary')).length;
    assert.ok(atKill < total, `${atKill} of ${total} chunks copied when killed`);
    d = await startDaemon({ stateDir: d.stateDir });
    const image = /<BACKUP_IDS>\s*<ID>(\d+)<\/ID>/.exec(
      (await cli('onevm', ['show', '2', '-x'])).stdout,
    )?.[1] as string;
    await eventually(
      'the copy resumed and done',
      async () => (await copyOf(image, copy))?.['STATE'] === 'COPIED',
    );
    assert.match(d.logs(), /backup copied/);
    assert.equal(chunkFiles(dsDir('enc-copy')).length, total);
    const c = (await copyOf(image, copy)) as Record<string, string>;
    assert.equal(
      Number(c['CHUNKS_WRITTEN']),
      total - atKill,
      'the chunks written before the kill were reused',
    );
    rmSync(dsDir('enc-primary'), { recursive: true, force: true });
    const r = await restore(image);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.sha, sha256File(vmDisk(2)));
    assert.match(r.out, /FROM COPY: /);
  });
});
