/**
 * Restores and failed backups through the real daemon, CLIs and disk images (issue 10): each
 * restore its own files, a pre-flight before writing, partial files removed at start or resumed
 * after kill -9, restored VM names checked; a backup checks free space first, and one that hits
 * ENOSPC leaves no chunk no manifest names.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let d: RunningDaemon;
let work: string;
let stateDir: string;
const cli = (name: string, args: string[]) => runCli(name, args, d);

function randomRaw(name: string, mib: number): string {
  const path = join(work, name);
  writeFileSync(path, randomBytes(mib * MiB));
  return path;
}

async function vmOf(name: string, disk: string): Promise<number> {
  return Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="${name}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    ),
  );
}

async function backup(vm: number, ds: string): Promise<string> {
  const r = await cli('onevm', ['backup', String(vm), '-d', ds, '--wait']);
  assert.equal(r.code, 0, r.stderr);
  return (/backup done, image (\d+)/.exec(r.stdout) as RegExpExecArray)[1] as string;
}

const disksOf = (stdout: string) => [...stdout.matchAll(/DISK (\d+): (\S+)/g)].map((m) => m[2] as string);

/** Fails with the daemon's last logs when it is not answering (it must never die on its own). */
async function alive(): Promise<void> {
  try {
    await rpcOk(d, 'one.system.version');
  } catch (err) {
    assert.fail(
      `onebackupd is not answering (${String(err)}); exit ${d.child.exitCode} ${d.child.signalCode}; logs:\n${d.logs().slice(-4000)}`,
    );
  }
}

async function start(): Promise<void> {
  d = await startDaemon({ stateDir });
}

before(async () => {
  work = tempDir('onebackup-restore-');
  stateDir = tempDir();
  await start();
  await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
  await rpcOk(d, 'one.datastore.allocate', 'NAME="plain"\n');
});

after(async () => {
  await d.stop();
  cleanup(stateDir);
  cleanup(work);
});

describe('restore targets', () => {
  it('two restores of one image at once get their own files; one into a taken --to file is refused', async () => {
    const disk = randomRaw('twice.raw', 12);
    const image = await backup(await vmOf('twice', disk), 'plain');
    const [a, b] = await Promise.all([
      cli('oneimage', ['restore', image]),
      cli('oneimage', ['restore', image]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const [fa, fb] = [disksOf(a.stdout)[0] as string, disksOf(b.stdout)[0] as string];
    assert.notEqual(fa, fb);
    assert.equal(sha(fa), sha(disk));
    assert.equal(sha(fb), sha(disk));
    const vms = [/VM: (\d+)/.exec(a.stdout)?.[1], /VM: (\d+)/.exec(b.stdout)?.[1]];
    assert.notEqual(vms[0], vms[1]);

    const to = join(work, 'to');
    const [c, e] = await Promise.all([
      cli('oneimage', ['restore', image, '--to', to, '--disk-id', '0']),
      cli('oneimage', ['restore', image, '--to', to, '--disk-id', '0']),
    ]);
    assert.deepEqual([c.code, e.code].sort(), [0, 255], `${c.stderr}${e.stderr}`);
    const refused = c.code === 0 ? e : c;
    assert.match(refused.stderr, new RegExp(`${to}/disk\\.0\\.raw`));
    assert.equal(sha(join(to, 'disk.0.raw')), sha(disk));
    // Once there, the file is never replaced.
    const again = await cli('oneimage', ['restore', image, '--to', to, '--disk-id', '0']);
    assert.equal(again.code, 255);
    assert.match(again.stderr, /disk\.0\.raw already exists; a restore never replaces a file/);
    assert.deepEqual(readdirSync(to), ['disk.0.raw']);
  });

  it('a restored VM name is checked as onevm create checks it; a taken one is refused before writing', async () => {
    const image = await backup(await vmOf('named', randomRaw('named.raw', 4)), 'plain');
    const before = readdirSync(join(stateDir, 'restores')).length;
    const bad = await cli('oneimage', ['restore', image, '--name', 'evil|name']);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /NAME/);
    const taken = await cli('oneimage', ['restore', image, '--name', 'named']);
    assert.equal(taken.code, 255);
    assert.match(taken.stderr, /NAME is already taken by VM \d+/);
    assert.equal(readdirSync(join(stateDir, 'restores')).length, before);
    // The default name is made unique.
    const one = await cli('oneimage', ['restore', image]);
    const two = await cli('oneimage', ['restore', image]);
    assert.equal(one.code + two.code, 0, one.stderr + two.stderr);
    for (const [r, name] of [
      [one, `named-restore-${image}`],
      [two, `named-restore-${image}-2`],
    ] as const) {
      const shown = await cli('onevm', ['show', /VM: (\d+)/.exec(r.stdout)?.[1] as string]);
      assert.match(shown.stdout, new RegExp(`NAME\\s+: ${name}\\s*\\n`));
    }
  });
});

describe('restore pre-flight', () => {
  it('a missing chunk is named and nothing is written', async () => {
    const disk = randomRaw('lost.raw', 8);
    const vm = await vmOf('lost', disk);
    const image = await backup(vm, 'plain');
    const ds = join(stateDir, 'datastores', '100');
    const manifests = join(ds, 'backups', String(vm));
    const manifest = JSON.parse(
      readFileSync(join(manifests, readdirSync(manifests)[0] as string), 'utf8'),
    ) as {
      disks: { chunks: (string | null)[] }[];
    };
    const id = manifest.disks[0]?.chunks[1] as string;
    const chunk = execFileSync('find', [ds, '-name', id, '-type', 'f']).toString().trim();
    const saved = readFileSync(chunk);
    rmSync(chunk);
    try {
      const to = join(work, 'lost-to');
      const r = await cli('oneimage', ['restore', image, '--to', to]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, new RegExp(`chunks are missing from datastore 100 \\(${ds}\\): ${id}`));
      assert.match(r.stderr, /nothing was written/);
      assert.equal(existsSync(to) && readdirSync(to).length > 0, false);
    } finally {
      writeFileSync(chunk, saved);
    }
  });

  it('not enough space where the disks go is refused before writing', async (t) => {
    const mnt = tempDir('onebackup-tiny-to-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    } catch {
      t.skip('mounting a small tmpfs needs root');
      cleanup(mnt);
      return;
    }
    try {
      const image = await backup(await vmOf('big', randomRaw('big.raw', 8)), 'plain');
      const r = await cli('oneimage', ['restore', image, '--to', `${mnt}/x`]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, new RegExp(`not enough space in ${mnt}/x: the restore needs 8\\.0 MiB`));
      assert.deepEqual(existsSync(`${mnt}/x`) ? readdirSync(`${mnt}/x`) : [], []);
    } finally {
      execFileSync('umount', ['-l', mnt]);
      cleanup(mnt);
    }
  });
});

/** Starts a restore, stops the daemon (SIGSTOP) once a checkpoint is recorded, then kills it. */
async function interruptedRestore(image: string): Promise<string> {
  const journal = join(stateDir, 'restores', '.journal');
  const pending = cli('oneimage', ['restore', image]);
  for (;;) {
    const entries = existsSync(journal) ? readdirSync(journal).filter((f) => f.endsWith('.json')) : [];
    const entry = entries[0] && JSON.parse(readFileSync(join(journal, entries[0]), 'utf8'));
    const partial = entry?.disks?.[0]?.partial as string | undefined;
    if (partial && existsSync(`${partial}.done`) && statSync(`${partial}.done`).size > 0) {
      d.child.kill('SIGSTOP');
      d.child.kill('SIGKILL');
      await d.stop();
      await pending;
      return partial;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('interrupted restores', () => {
  it('kill -9 mid-restore: --resume after a restart skips what was written and restores bit-exact; expired partials go at start', async () => {
    await alive();
    const disk = randomRaw('resume.raw', 400);
    const image = await backup(await vmOf('resume', disk), 'plain');
    const partial = await interruptedRestore(image);
    assert.ok(existsSync(partial));
    await start();
    assert.ok(existsSync(partial), 'kept for --resume');
    const r = await cli('oneimage', ['restore', image, '--resume']);
    assert.equal(r.code, 0, r.stderr);
    const skipped = Number(/RESUMED: (\d+) chunks/.exec(r.stdout)?.[1]);
    assert.ok(skipped > 0, r.stdout);
    const file = disksOf(r.stdout)[0] as string;
    assert.equal(file, partial.replace(/\.part$/, ''));
    assert.equal(sha(file), sha(disk));
    assert.equal(existsSync(partial), false);
    assert.equal(existsSync(`${partial}.done`), false);
    const none = await cli('oneimage', ['restore', image, '--resume']);
    assert.equal(none.code, 255);
    assert.match(none.stderr, /no interrupted restore of this backup to resume/);

    // Interrupted again, then older than the 24 h kept for a resume: removed at start.
    const second = await interruptedRestore(image);
    const journal = join(stateDir, 'restores', '.journal');
    for (const f of readdirSync(journal)) {
      const entry = JSON.parse(readFileSync(join(journal, f), 'utf8'));
      writeFileSync(join(journal, f), JSON.stringify({ ...entry, startedAt: entry.startedAt - 2 * 86400 }));
    }
    await start();
    assert.equal(existsSync(second), false);
    assert.equal(existsSync(`${second}.done`), false);
    assert.deepEqual(readdirSync(journal), []);
    rmSync(disk);
  });
});

describe('failed backups', () => {
  it('free space is checked before reading; a backup hitting ENOSPC half-way leaves no orphan chunks', async (t) => {
    const mnt = tempDir('onebackup-tiny-ds-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=10m', 'tmpfs', mnt]);
    } catch {
      t.skip('mounting a small tmpfs needs root');
      cleanup(mnt);
      return;
    }
    try {
      const ds = String(
        await rpcOk(d, 'one.datastore.allocate', `NAME="tiny"\nBASE_PATH="${mnt}/ds"\nCOMPRESSION="none"\n`),
      );
      const huge = await vmOf('huge', randomRaw('huge.raw', 20));
      const refused = await cli('onevm', ['backup', String(huge), '-d', 'tiny', '--wait']);
      assert.equal(refused.code, 255);
      assert.match(
        refused.stderr,
        new RegExp(
          `datastore ${ds} \\(${mnt}/ds\\) has [\\d.]+ MiB free and this backup of VM ${huge} may write 20\\.0 MiB.*nothing was read`,
        ),
      );
      // An increment is expected to write what the previous backup stored; this one rewrites
      // every chunk, passes the check and runs out of space half-way.
      const grows = join(work, 'grows.raw');
      writeFileSync(grows, randomBytes(4 * MiB));
      truncateSync(grows, 12 * MiB);
      const vm = await vmOf('grows', grows);
      await backup(vm, 'tiny');
      writeFileSync(grows, randomBytes(12 * MiB));
      const failed = await cli('onevm', ['backup', String(vm), '-d', 'tiny', '--wait']);
      assert.equal(failed.code, 255);
      assert.match(failed.stderr, /no space left on the device \(ENOSPC\)/);
      const files = execFileSync('find', [`${mnt}/ds`, '-type', 'f'])
        .toString()
        .split('\n')
        .filter(Boolean);
      const chunks = new Set(
        files.filter((f) => f.includes('/chunks/')).map((f) => f.slice(f.lastIndexOf('/') + 1)),
      );
      const named = new Set<string>();
      for (const m of files.filter((f) => f.endsWith('.json') && !f.endsWith('onebackup-datastore.json'))) {
        const manifest = JSON.parse(readFileSync(m, 'utf8')) as { disks: { chunks: (string | null)[] }[] };
        for (const disk of manifest.disks) for (const id of disk.chunks) if (id) named.add(id);
      }
      assert.deepEqual([...chunks].sort(), [...named].sort());
      assert.equal(named.size, 1, 'the first backup keeps its chunk');
    } finally {
      execFileSync('umount', ['-l', mnt]);
      cleanup(mnt);
    }
  });
});
