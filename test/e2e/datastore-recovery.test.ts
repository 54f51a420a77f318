/**
 * Datastore identity and disaster recovery through the real daemon, CLIs and disk images:
 * create refuses shared and nested directories, GC and verify refuse a directory of another
 * datastore, GC keeps manifests no image references and import adopts them, and the README's
 * "Lost the server" procedure: back up (plain and encrypted), export the key, lose the state
 * directory, start afresh, import both datastores and the key, restore bit for bit.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcOk } from '../support/rpc.js';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let work: string;
let d: RunningDaemon;
const cli = (name: string, args: string[], env?: NodeJS.ProcessEnv) =>
  runCli(name, args, d, env ? { env } : {});

/** The SHA-256 of a disk's guest-visible bytes (qcow2 converted to raw first). */
function diskSha(path: string): string {
  if (!path.endsWith('.qcow2')) return sha(path);
  const out = join(work, `cmp-${randomBytes(3).toString('hex')}.raw`);
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path, out]);
  const h = sha(out);
  rmSync(out);
  return h;
}

async function backup(vm: number, ds: number): Promise<string> {
  const r = await cli('onevm', ['backup', String(vm), '-d', String(ds), '--wait']);
  assert.equal(r.code, 0, r.stderr);
  return (/backup done, image (\d+)/.exec(r.stdout) as RegExpExecArray)[1] as string;
}

async function create(template: string) {
  const file = join(work, `ds-${randomBytes(3).toString('hex')}.tmpl`);
  writeFileSync(file, template);
  return cli('onedatastore', ['create', file]);
}

async function importDs(template: string) {
  const file = join(work, `import-${randomBytes(3).toString('hex')}.tmpl`);
  writeFileSync(file, template);
  return cli('onedatastore', ['import', file]);
}

const stores = () => join(work, 'stores');

before(async () => {
  work = tempDir('onebackup-dr-');
  mkdirSync(stores());
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
  const qcow = join(work, 'vm.qcow2');
  const raw = join(work, 'vm.raw');
  makeDisk(qcow, 'qcow2', '24M');
  makeDisk(raw, 'raw', '16M');
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 1M 3M', qcow]);
  writeFileSync(raw, randomBytes(6 * 1024 * 1024), { flag: 'r+' });
  await rpcOk(
    d,
    'one.vm.allocate',
    `NAME="web"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${qcow}"]\nDISK=[SOURCE="${raw}"]\n`,
  );
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

describe('datastore identity', () => {
  it('create refuses a BASE_PATH equal to (through a symlink), inside or around another datastore', async () => {
    const made = await create(`NAME="plain"\nBASE_PATH="${join(stores(), 'plain')}"\n`);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stdout, 'ID: 100\n');
    assert.match(
      readFileSync(join(stores(), 'plain', 'onebackup-datastore.json'), 'utf8'),
      /"datastoreId": 100/,
    );
    symlinkSync(join(stores(), 'plain'), join(work, 'link'));
    for (const [base, how] of [
      [join(work, 'link'), 'is the same directory as'],
      [join(stores(), 'plain', 'sub'), 'is inside'],
      [stores(), 'holds'],
    ] as const) {
      const r = await create(`NAME="other"\nBASE_PATH="${base}"\n`);
      assert.equal(r.code, 255, base);
      assert.match(
        r.stderr,
        new RegExp(
          `BASE_PATH of the new datastore other \\(.*\\) ${how} the BASE_PATH of datastore 100 \\(plain: ${stores()}/plain\\)`,
        ),
      );
    }
    const enc = await create(`NAME="secret"\nENCRYPTION="YES"\nBASE_PATH="${join(stores(), 'secret')}"\n`);
    assert.equal(enc.stdout, 'ID: 101\n', enc.stderr);
  });

  it("GC and verify refuse a directory whose identity is another datastore's, or missing beside backups", async () => {
    await backup(0, 100);
    const idFile = join(stores(), 'plain', 'onebackup-datastore.json');
    const good = readFileSync(idFile, 'utf8');
    try {
      writeFileSync(
        idFile,
        good.replace(/"uuid": "[^"]+"/, '"uuid": "00000000-0000-4000-8000-000000000000"'),
      );
      for (const cmd of ['gc', 'verify']) {
        const r = await cli('onedatastore', [cmd, '100']);
        assert.equal(r.code, 255, cmd);
        assert.match(
          r.stderr,
          /datastore 100 \(BASE_PATH .*\): the storage belongs to another datastore .*00000000-0000-4000-8000-000000000000.*onedatastore import/,
        );
      }
      rmSync(idFile);
      const r = await cli('onedatastore', ['gc', '100']);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /holds backups but no identity document .*onedatastore import/);
      const b = await cli('onevm', ['backup', '0', '-d', '100', '--wait']);
      assert.equal(b.code, 255);
      assert.match(b.stderr, /no identity document/);
      assert.ok(readdirSync(join(stores(), 'plain', 'backups', '0')).length > 0, 'nothing was deleted');
    } finally {
      writeFileSync(idFile, good);
    }
    assert.equal((await cli('onedatastore', ['gc', '100'])).code, 0);
  });

  it('GC keeps a manifest no image references, with its chunks; import adopts it', async () => {
    const dir = join(stores(), 'plain', 'backups', '0');
    const [manifest] = readdirSync(dir);
    copyFileSync(join(dir, manifest as string), join(dir, '9999999999-orphan.json'));
    await rpcOk(d, 'one.image.delete', 0, false); // the referenced manifest goes; its copy stays
    const gc = await cli('onedatastore', ['gc', '100']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(
      gc.stdout,
      /^chunks kept: [1-9]\d*, chunks removed: 0, unknown manifests kept: 1 .*onedatastore import/,
    );
    assert.match(gc.stdout, /unknown manifest: 0\/9999999999-orphan\.json/);
    assert.match(d.logs(), /manifests no image references were kept/);
    const adopted = await importDs(`NAME="plain"\nBASE_PATH="${join(stores(), 'plain')}"\n`);
    assert.equal(adopted.code, 0, adopted.stderr);
    assert.match(
      adopted.stdout,
      /^ID: 100\nNOTE: already attached.*\nIMAGES: 1 \(1 increments\)\nIMAGE (\d+): VM 0, 1 increments\n$/,
    );
    const again = await importDs(`NAME="plain"\nBASE_PATH="${join(stores(), 'plain')}"\n`);
    assert.match(again.stdout, /IMAGES: 0 \(0 increments\)/);
    assert.match((await cli('onedatastore', ['gc', '100'])).stdout, /unknown manifests kept: 0\n$/);
  });
});

describe('lost the server (README)', () => {
  it('backs up, exports the key, loses the state directory, imports both datastores and the key, restores bit for bit', async () => {
    const sources = [join(work, 'vm.qcow2'), join(work, 'vm.raw')];
    const before = sources.map(diskSha);
    await backup(0, 100);
    await backup(0, 101);
    const pass = join(work, 'pass');
    writeFileSync(pass, 'correct horse battery\n');
    const keyFile = join(work, 'secret.key');
    const exported = await cli('onedatastore', [
      'key-export',
      '101',
      '--out',
      keyFile,
      '--passphrase-file',
      pass,
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    const keyText = readFileSync(keyFile, 'utf8');
    const rawKey = readFileSync(join(d.stateDir, 'keys', 'datastore-101.key'), 'utf8').trim();
    assert.ok(!keyText.includes(rawKey), 'the key is wrapped');
    assert.ok(!d.logs().includes('correct horse'), 'the passphrase is not logged');

    // The server is lost: a fresh daemon with an empty state directory.
    await d.stop();
    cleanup(d.stateDir);
    d = await startDaemon();
    await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
    const again = await create(`NAME="plain"\nBASE_PATH="${join(stores(), 'plain')}"\n`);
    assert.equal(again.code, 255);
    assert.match(again.stderr, /already holds backups .*onedatastore import instead of create/);

    const plain = await importDs(`NAME="plain"\nBASE_PATH="${join(stores(), 'plain')}"\n`);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      plain.stdout,
      // Two FULL backups (the first adopted above, then one more): two chains, two images.
      /^ID: 100\nIMAGES: 2 \(2 increments\)\nIMAGE 0: VM 0 \(gone\), 1 increments\nIMAGE 1: VM 0 \(gone\), 1 increments\n$/,
    );
    // The encrypted datastore's manifests are authenticated with its key: the first import
    // attaches it without images; the same import adopts them once the key is installed.
    const secretTmpl = `NAME="secret"\nBASE_PATH="${join(stores(), 'secret')}"\n`;
    const secret = await importDs(secretTmpl);
    assert.equal(secret.code, 0, secret.stderr);
    assert.match(
      secret.stdout,
      /^ID: 101\nIMAGES: 0 \(0 increments\)\nKEY: the 1 backups are encrypted .*key-import 101 FILE, then run this import again to adopt them\n$/,
    );
    assert.match((await cli('onedatastore', ['show', '101'])).stdout, /ENCRYPTION="YES"/);
    const noKey = await importDs(secretTmpl);
    assert.equal(noKey.code, 255);
    assert.match(
      noKey.stderr,
      /datastore 101 is encrypted .*onedatastore key-import 101 FILE.*then run this import again/,
    );
    // A wrong passphrase is refused.
    const wrong = await cli('onedatastore', ['key-import', '101', keyFile], {
      ONEBACKUP_KEY_PASSPHRASE: 'wrong horse battery',
    });
    assert.equal(wrong.code, 255);
    assert.match(wrong.stderr, /the passphrase is wrong or the key file is damaged/);
    const right = await cli('onedatastore', ['key-import', '101', keyFile, '--passphrase-file', pass]);
    assert.equal(right.code, 0, right.stderr);
    assert.equal(readFileSync(join(d.stateDir, 'keys', 'datastore-101.key'), 'utf8').trim(), rawKey);
    const adopted = await importDs(secretTmpl);
    assert.equal(adopted.code, 0, adopted.stderr);
    assert.match(
      adopted.stdout,
      /^ID: 101\nNOTE: already attached.*\nIMAGES: 1 \(1 increments\)\nIMAGE 2: VM 0 \(gone\), 1 increments\n$/,
    );
    const show = await cli('oneimage', ['show', '2']);
    assert.match(show.stdout, /VM\s+: 0 \(gone: not in this onebackupd\)/);

    for (const image of ['0', '1', '2']) {
      const r = await cli('oneimage', ['restore', image]);
      assert.equal(r.code, 0, r.stderr);
      const files = new Map(
        [...r.stdout.matchAll(/DISK (\d+): (\S+)/g)].map((m) => [Number(m[1]), m[2] as string]),
      );
      assert.deepEqual(
        [0, 1].map((i) => diskSha(files.get(i) as string)),
        before,
        `image ${image}`,
      );
    }
    for (const ds of ['100', '101']) {
      assert.match((await cli('onedatastore', ['verify', ds])).stdout, /^OK: /);
      assert.match(
        (await cli('onedatastore', ['gc', ds])).stdout,
        /chunks removed: 0, unknown manifests kept: 0\n$/,
      );
    }
  });
});

describe('import rebuilds increment chains', () => {
  it('a FULL and its increments become one image again, a --reset starts another; each increment restores', async () => {
    const dir = tempDir('onebackup-chains-');
    let first: RunningDaemon | undefined = await startDaemon();
    let second: RunningDaemon | undefined;
    try {
      const disk = join(dir, 'vm.raw');
      writeFileSync(disk, randomBytes(12 * 1024 * 1024));
      const run = (daemon: RunningDaemon, name: string, args: string[]) => runCli(name, args, daemon);
      await rpcOk(first, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
      await rpcOk(
        first,
        'one.vm.allocate',
        `NAME="chained"\nHOST="node1"\nSTATE="POWEROFF"\nBACKUP_CONFIG=[MODE="INCREMENT"]\nDISK=[SOURCE="${disk}"]\n`,
      );
      const base = join(dir, 'ds');
      assert.equal(
        (await rpcOk(first, 'one.datastore.allocate', `NAME="chains"\nBASE_PATH="${base}"\n`)) as number,
        100,
      );
      const shas: string[] = [];
      const images: string[] = [];
      for (const reset of [false, false, true, false]) {
        // Each backup after the disk changed: 4 MiB rewritten.
        writeFileSync(disk, randomBytes(4 * 1024 * 1024), { flag: 'r+' });
        shas.push(diskSha(disk));
        const r = await run(first, 'onevm', [
          'backup',
          '0',
          '-d',
          '100',
          '--wait',
          ...(reset ? ['--reset'] : []),
        ]);
        assert.equal(r.code, 0, r.stderr);
        images.push((/backup done, image (\d+)/.exec(r.stdout) as RegExpExecArray)[1] as string);
      }
      assert.deepEqual(images, ['0', '0', '1', '1'], 'two chains of two');
      await first.stop();
      first = undefined;
      // The server is lost; the datastore's directory is imported into a new one.
      second = await startDaemon();
      await rpcOk(second, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
      const file = join(dir, 'import.tmpl');
      writeFileSync(file, `NAME="chains"\nBASE_PATH="${base}"\n`);
      const imported = await run(second, 'onedatastore', ['import', file]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(
        imported.stdout,
        /^ID: 100\nIMAGES: 2 \(4 increments\)\nIMAGE 0: VM 0 \(gone\), 2 increments\nIMAGE 1: VM 0 \(gone\), 2 increments\n$/,
      );
      const shown = (await run(second, 'oneimage', ['show', '1', '-x'])).stdout;
      assert.deepEqual(
        [...shown.matchAll(/<TYPE><!\[CDATA\[(\w+)\]\]><\/TYPE>/g)].map((m) => m[1]),
        ['FULL', 'INCREMENT'],
      );
      for (const [i, sha] of shas.entries()) {
        const to = join(dir, `restore-${i}`);
        const r = await run(second, 'oneimage', [
          'restore',
          String(Math.floor(i / 2)),
          '--increment',
          String(i % 2),
          '--to',
          to,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(diskSha(/DISK 0: (\S+)/.exec(r.stdout)?.[1] as string), sha, `backup ${i}`);
      }
    } finally {
      await first?.stop();
      await second?.stop();
      if (first) cleanup(first.stateDir);
      if (second) cleanup(second.stateDir);
      cleanup(dir);
    }
  });
});
