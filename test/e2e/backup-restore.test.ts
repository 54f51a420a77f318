/**
 * Backups and restores through the real daemon, the real CLIs and real disk images:
 * FULL and INCREMENT with KEEP_LAST and --reset, encryption, in-place restore, failures
 * (missing disk, kill -9 mid-backup) leave nothing half-visible.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcOk } from '../support/rpc.js';
import { storedBytes } from '../support/state-rows.js';

const MiB = 1024 * 1024;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const rawSha = (path: string, format: 'raw' | 'qcow2', scratch: string) => {
  if (format === 'raw') return sha(path);
  const out = join(scratch, `cmp-${randomBytes(3).toString('hex')}.raw`);
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path, out]);
  const h = sha(out);
  rmSync(out);
  return h;
};

/** Writes random bytes at an offset of a raw file, or through qemu-io into a qcow2. */
function scribble(path: string, format: 'raw' | 'qcow2', offset: number, length: number): void {
  if (format === 'raw') {
    const fd = openSync(path, 'r+');
    writeSync(fd, randomBytes(length), 0, length, offset);
    closeSync(fd);
  } else {
    execFileSync('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      `write -P ${1 + (offset % 250)} ${offset} ${length}`,
      path,
    ]);
  }
}

let d: RunningDaemon;
let work: string;
const cli = (name: string, args: string[]) => runCli(name, args, d);

async function backup(vm: number, ds: number, extra: string[] = []): Promise<string> {
  const r = await cli('onevm', ['backup', String(vm), '-d', String(ds), '--wait', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const m = /backup done, image (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1] as string;
}

async function restoreDisks(image: string, extra: string[] = []): Promise<Map<number, string>> {
  const r = await cli('oneimage', ['restore', image, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return new Map([...r.stdout.matchAll(/DISK (\d+): (\S+)/g)].map((m) => [Number(m[1]), m[2] as string]));
}

async function vmWithDisks(
  name: string,
  config: string,
): Promise<{ id: number; disks: [string, 'raw' | 'qcow2'][] }> {
  const qcow = join(work, `${name}.qcow2`);
  const raw = join(work, `${name}.raw`);
  makeDisk(qcow, 'qcow2', '24M');
  makeDisk(raw, 'raw', '16M');
  scribble(qcow, 'qcow2', 0, 3 * MiB);
  scribble(raw, 'raw', 5 * MiB + 4096, 2 * MiB);
  const id = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="${name}"\nHOST="node1"\nSTATE="POWEROFF"\n${config}\nDISK=[SOURCE="${qcow}"]\nDISK=[SOURCE="${raw}"]\n`,
    ),
  );
  return {
    id,
    disks: [
      [qcow, 'qcow2'],
      [raw, 'raw'],
    ],
  };
}

before(async () => {
  work = tempDir('onebackup-disks-');
  d = await startDaemon();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="plain"\nCOMPRESSION="zstd"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="secret"\nENCRYPTION="YES"\n');
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
  cleanup(work);
});

describe('FULL mode', () => {
  it('each backup is a new image named "<VM> <DD-Mon> <HH.MM.SS>"; KEEP_LAST drops the oldest; each restores bit for bit', async () => {
    const vm = await vmWithDisks('full', 'BACKUP_CONFIG=[MODE="FULL", KEEP_LAST="2"]');
    const states: Map<string, string[]> = new Map();
    for (let i = 0; i < 3; i++) {
      scribble(vm.disks[1]?.[0] as string, 'raw', i * MiB, 4096);
      const snapshot = vm.disks.map(([p, f]) => rawSha(p, f, work));
      states.set(await backup(vm.id, 100), snapshot);
    }
    const list = await cli('oneimage', ['list', '--csv']);
    const rows = list.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 2, list.stdout);
    assert.match(
      rows[0] as string,
      new RegExp(`^2,oneadmin,oneadmin,${vm.id} \\d\\d-[A-Z][a-z]{2} \\d\\d\\.\\d\\d\\.\\d\\d,plain,`),
    );
    assert.equal((await cli('oneimage', ['show', '0'])).code, 255);
    for (const image of ['1', '2']) {
      const files = await restoreDisks(image);
      assert.deepEqual(
        [rawSha(files.get(0) as string, 'qcow2', work), rawSha(files.get(1) as string, 'raw', work)],
        states.get(image),
      );
      execFileSync('qemu-img', ['info', files.get(0) as string]);
    }
  });
});

describe('INCREMENT mode', () => {
  it('appends increments; KEEP_LAST keeps the last N, the oldest becomes FULL, IDs are not renumbered; --reset starts a new chain', async () => {
    const vm = await vmWithDisks('incr', 'BACKUP_CONFIG=[MODE="INCREMENT", KEEP_LAST="3"]');
    const states: string[][] = [];
    let image = '';
    for (let i = 0; i < 5; i++) {
      scribble(vm.disks[0]?.[0] as string, 'qcow2', (4 + i) * MiB, 65536);
      states.push(vm.disks.map(([p, f]) => rawSha(p, f, work)));
      const got = await backup(vm.id, 101);
      if (i > 0) assert.equal(got, image);
      image = got;
    }
    const x = (await cli('oneimage', ['show', image, '-x'])).stdout;
    const incs = [
      ...x.matchAll(
        /<INCREMENT>\s*<DATE>\d+<\/DATE>\s*<ID>(\d+)<\/ID>\s*<PARENT_ID>(-?\d+)<\/PARENT_ID>[\s\S]*?<TYPE><!\[CDATA\[(\w+)\]\]><\/TYPE>/g,
      ),
    ].map((m) => `${m[1]}:${m[2]}:${m[3]}`);
    assert.deepEqual(incs, ['2:-1:FULL', '3:2:INCREMENT', '4:3:INCREMENT']);
    assert.match(x, /<ENCRYPTION>AES-256-GCM<\/ENCRYPTION>/);
    for (const inc of [2, 3, 4]) {
      const files = await restoreDisks(image, ['--increment', String(inc)]);
      assert.deepEqual(
        [rawSha(files.get(0) as string, 'qcow2', work), rawSha(files.get(1) as string, 'raw', work)],
        states[inc],
      );
    }
    const gone = await cli('oneimage', ['restore', image, '--increment', '1']);
    assert.equal(gone.code, 255);
    assert.match(gone.stderr, /has no increment 1/);
    const fresh = await backup(vm.id, 101, ['--reset']);
    assert.notEqual(fresh, image);
  });

  it('--disk-id restores one disk and creates no VM; a disk not in the backup is refused', async () => {
    const before1 = (await cli('onevm', ['list', '--csv', '--no-header'])).stdout;
    const one = await cli('oneimage', ['restore', '1', '--disk-id', '1']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(
      one.stdout,
      /^DISK 1: \S+disk\.1\.raw\nDURABLE: fsync of each disk file before it is put in place, then of its directory\n$/,
    );
    assert.equal((await cli('onevm', ['list', '--csv', '--no-header'])).stdout, before1);
    const bad = await cli('oneimage', ['restore', '1', '--disk-id', '7']);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /Cannot restore disk 7, it is not part of the backup/);
  });
});

describe('encryption, rules and failures', () => {
  it('the key lives in a 0600 file of the state directory, never in show output or the database', async () => {
    const key = join(d.stateDir, 'keys', 'datastore-101.key');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    const hex = readFileSync(key, 'utf8').trim();
    for (const args of [
      ['show', '101'],
      ['show', '101', '-x'],
      ['list', '-x'],
    ]) {
      assert.doesNotMatch((await cli('onedatastore', args)).stdout, new RegExp(hex.slice(0, 32)));
    }
    assert.equal((await storedBytes(d.stateDir)).includes(Buffer.from(hex.slice(0, 32))), false);
  });

  it('a VM in a backup job cannot be backed up on its own; the right job ID is named', async () => {
    const vm = await vmWithDisks('injob', '');
    const job = await runCli('onebackupjob', ['create'], d, { input: `NAME="j"\nBACKUP_VMS="${vm.id}"\n` });
    const jobId = job.stdout.trim().split(' ')[1];
    const r = await cli('onevm', ['backup', String(vm.id), '-d', '100']);
    assert.equal(r.code, 255);
    assert.equal(
      r.stderr,
      `[one.vm.backup] Unable to start an individual backup for the Virtual Machine, it is part of Backup Job ID ${jobId}\n`,
    );
  });

  it('in-place restore puts the backed-up bytes back; a RUNNING VM is refused', async () => {
    const vm = await vmWithDisks('inplace', '');
    const want = vm.disks.map(([p, f]) => rawSha(p, f, work));
    const image = await backup(vm.id, 100);
    scribble(vm.disks[1]?.[0] as string, 'raw', 0, MiB);
    scribble(vm.disks[0]?.[0] as string, 'qcow2', 0, MiB);
    const r = await cli('onevm', ['restore', String(vm.id), image]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /restored from image \d+; DURABLE: the disks were flushed to stable storage/);
    assert.deepEqual(
      vm.disks.map(([p, f]) => rawSha(p, f, work)),
      want,
    );
    const running = await vmWithDisks('running', '');
    await rpcOk(d, 'one.vm.allocate', `NAME="r2"\nHOST="node1"\nDISK=[SOURCE="${running.disks[1]?.[0]}"]\n`);
    const refused = await cli('onevm', ['restore', 'r2', image]);
    assert.equal(refused.code, 255);
  });

  it('a missing disk fails the backup with the file named; nothing is recorded', async () => {
    const vm = await vmWithDisks('missing', '');
    const images = (await cli('oneimage', ['list', '--csv', '--no-header'])).stdout;
    rmSync(vm.disks[1]?.[0] as string);
    const r = await cli('onevm', ['backup', String(vm.id), '-d', '100', '--wait']);
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      new RegExp(`\\[backup\\] VM ${vm.id} disk 1: cannot open ${vm.disks[1]?.[0]}: ENOENT`),
    );
    assert.equal((await cli('oneimage', ['list', '--csv', '--no-header'])).stdout, images);
    assert.match(
      (await cli('onevm', ['show', String(vm.id)])).stdout,
      /ERROR="\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} : \[backup\]/,
    );
  });
});

describe('kill -9 during a backup', () => {
  it('leaves no image, and the next start removes temp files', async () => {
    const dir = tempDir();
    const big = join(dir, 'big.raw');
    const fd = openSync(big, 'w');
    for (let i = 0; i < 48; i++) writeSync(fd, randomBytes(4 * MiB));
    closeSync(fd);
    let daemon = await startDaemon({ stateDir: dir, conf: 'LOG_LEVEL = "debug"\nWORKERS = 1\n' });
    try {
      await rpcOk(daemon, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
      await rpcOk(daemon, 'one.datastore.allocate', 'NAME="ds"\nCOMPRESSION="gzip"\nCOMPRESSION_LEVEL="9"\n');
      const vm = Number(
        await rpcOk(
          daemon,
          'one.vm.allocate',
          `NAME="big"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${big}"]\n`,
        ),
      );
      await rpcOk(daemon, 'one.vm.backup', vm, 100, false);
      for (;;) {
        const xml = String(await rpcOk(daemon, 'one.vm.info', vm, false));
        const done = /<BYTES_DONE>(\d+)<\/BYTES_DONE>/.exec(xml);
        if (done && Number(done[1]) > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await daemon.stop('SIGKILL'), null);
      daemon = await startDaemon({ stateDir: dir });
      assert.equal(
        String(await rpcOk(daemon, 'one.imagepool.info', -2, -1, -1)),
        '<IMAGE_POOL></IMAGE_POOL>',
      );
      const base = join(dir, 'datastores', '100');
      const leftovers = (function walk(p: string): string[] {
        if (!existsSync(p)) return [];
        return readdirSync(p, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? walk(join(p, e.name)) : e.name.startsWith('.tmp-') ? [e.name] : [],
        );
      })(base);
      assert.deepEqual(leftovers, []);
      assert.equal(existsSync(join(dir, 'scratch')), false);
      // The VM backs up fine afterwards.
      await rpcOk(daemon, 'one.vm.backup', vm, 100, false);
      for (let i = 0; i < 600; i++) {
        if (String(await rpcOk(daemon, 'one.imagepool.info', -2, -1, -1)).includes('<IMAGE>')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(String(await rpcOk(daemon, 'one.imagepool.info', -2, -1, -1)), /<IMAGE><ID>0<\/ID>/);
      copyFileSync(big, join(dir, 'copy'));
    } finally {
      await daemon.stop();
      cleanup(dir);
    }
  });
});

describe('verify and garbage collection', () => {
  it('verify passes, names every backup a corrupt chunk breaks, and gc frees what deleted images held', async () => {
    await rpcOk(d, 'one.datastore.allocate', 'NAME="check"\nENCRYPTION="YES"\n');
    const vm = await vmWithDisks('verify', '');
    const first = await backup(vm.id, 102);
    const second = await backup(vm.id, 102);
    const ok = await cli('onedatastore', ['verify', '102']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^OK: \d+ chunks verified\n$/);
    const manifestDir = join(d.stateDir, 'datastores', '102', 'chunks');
    const sub = readdirSync(manifestDir)[0] as string;
    const chunk = readdirSync(join(manifestDir, sub))[0] as string;
    const path = join(manifestDir, sub, chunk);
    const bytes = readFileSync(path);
    bytes[40] = (bytes[40] as number) ^ 1;
    const fd = openSync(path, 'w');
    writeSync(fd, bytes);
    closeSync(fd);
    const bad = await cli('onedatastore', ['verify', '102']);
    assert.equal(bad.code, 255);
    assert.match(
      bad.stderr,
      new RegExp(`image ${first} increment 0 disk \\d: chunk ${chunk}: GCM authentication failed`),
    );
    assert.match(bad.stderr, new RegExp(`image ${second} increment 0 disk \\d: chunk ${chunk}`));
    const img = await cli('oneimage', ['verify', first]);
    assert.equal(img.code, 255);
    // Delete both images: gc removes every chunk.
    assert.equal((await cli('oneimage', ['delete', `${first},${second}`])).code, 0);
    const gc = await cli('onedatastore', ['gc', '102']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /^chunks kept: 0, chunks removed: \d+, unknown manifests kept: 0\n$/);
    assert.deepEqual(
      readdirSync(manifestDir).flatMap((s) => readdirSync(join(manifestDir, s))),
      [],
    );
  });
});

describe('a full datastore', () => {
  it('a backup the datastore has no room for is refused before reading, naming the datastore path, and leaves no half backup', async (t) => {
    const mnt = tempDir('onebackup-small-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
    } catch {
      t.skip('mounting a small tmpfs needs root (CAP_SYS_ADMIN)');
      cleanup(mnt);
      return;
    }
    try {
      await rpcOk(d, 'one.datastore.allocate', `NAME="tiny"\nBASE_PATH="${mnt}/ds"\n`);
      const raw = join(work, 'full-ds.raw');
      const fd = openSync(raw, 'w');
      writeSync(fd, randomBytes(24 * MiB));
      closeSync(fd);
      const vm = Number(
        await rpcOk(
          d,
          'one.vm.allocate',
          `NAME="fat"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${raw}"]\n`,
        ),
      );
      const images = (await cli('oneimage', ['list', '--csv', '--no-header'])).stdout;
      const r = await cli('onevm', ['backup', String(vm), '-d', 'tiny', '--wait']);
      assert.equal(r.code, 255);
      assert.match(
        r.stderr,
        new RegExp(
          `\\[backup\\] datastore \\d+ \\(${mnt}/ds\\) has [\\d.]+ MiB free and this backup of VM ${vm} may write [\\d.]+ MiB`,
        ),
      );
      assert.equal((await cli('oneimage', ['list', '--csv', '--no-header'])).stdout, images);
      const files = execFileSync('find', [mnt, '-type', 'f'])
        .toString()
        .split('\n')
        .filter((f) => f !== '');
      assert.deepEqual(
        files.filter(
          (f) => f.includes('.tmp-') || (f.endsWith('.json') && !f.endsWith('/onebackup-datastore.json')),
        ),
        [],
      );
    } finally {
      execFileSync('umount', ['-l', mnt]);
      cleanup(mnt);
    }
  });
});
