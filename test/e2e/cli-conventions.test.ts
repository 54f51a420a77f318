/** OpenNebula CLI conventions, and the inventory CLIs, against the real daemon. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';

let d: RunningDaemon;
before(async () => {
  d = await startDaemon();
});
after(async () => {
  await d.stop();
  cleanup(d.stateDir);
});

describe('CLI conventions', () => {
  it('no command prints help and exits 0; an unknown one says so on stderr and exits 255', async () => {
    const none = await runCli('onebackupjob', [], d);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /^onebackupjob <command> \[<args>\] \[<options>\]/);
    const unknown = await runCli('onebackupjob', ['frobnicate', '3'], d);
    assert.equal(unknown.code, 255, 'a typo never passes for success (OpenNebula exits 0 here)');
    assert.equal(unknown.stderr, "Command 'frobnicate 3' not found\n");
  });

  it('a near-miss attribute is warned about, and a job with no VMs is not backed up', async () => {
    const dir = join(d.stateDir, 'typo');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'job.tmpl');
    writeFileSync(file, 'NAME = "typo"\nBACKUP_VM = "1"\n');
    const created = await runCli('onebackupjob', ['create', file], d);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(
      created.stderr,
      `${file}:2:1: warning: BACKUP_VM is not a backup job attribute; did you mean BACKUP_VMS?\n`,
    );
    const id = /ID: (\d+)/.exec(created.stdout)?.[1] as string;
    const backup = await runCli('onebackupjob', ['backup', id], d);
    assert.equal(backup.code, 255);
    assert.match(
      backup.stderr,
      new RegExp(`backup job ${id} has no VMs in BACKUP_VMS; add some with: onebackupjob update ${id} -a`),
    );
  });

  it('a BASE_PATH on a kernel filesystem is refused at once, and the daemon keeps answering', async () => {
    const started = Date.now();
    const r = await runCli('onedatastore', ['create'], d, {
      input: 'NAME = "proc"\nBASE_PATH = "/proc/nope/ds"\n',
    });
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      /BASE_PATH="\/proc\/nope\/ds" is on the kernel's proc filesystem, which cannot hold backups/,
    );
    assert.ok(Date.now() - started < 10_000, 'no hang');
    const list = await runCli('onedatastore', ['list'], d);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /proc/);
  });

  it('--password without --user is refused, never ignored', async () => {
    const r = await runCli('onebackupjob', ['list', '--password', 'secret'], d);
    assert.deepEqual([r.code, r.stderr], [255, '--password needs --user as well (whose password is it?)\n']);
    const onevm = await runCli('onevm', ['updat', '0'], d);
    assert.equal(onevm.code, 255, 'an unknown onevm command is an error too');
  });

  it('argument errors exit 255 with OpenNebula-style messages', async () => {
    const bogus = await runCli('onebackupjob', ['list', '--bogus'], d);
    assert.deepEqual([bogus.code, bogus.stderr], [255, 'invalid option: --bogus\n']);
    const few = await runCli('onebackupjob', ['rename', '1'], d);
    assert.deepEqual(
      [few.code, few.stderr],
      [255, 'Command rename requires 2 parameters to run. (see onebackupjob rename --help)\n'],
    );
    const many = await runCli('onebackupjob', ['show', '1', '2'], d);
    assert.equal(many.code, 255);
    assert.match(many.stderr, /^Wrong number of arguments/);
  });

  it('--help works on every command of every CLI', async () => {
    for (const [cli, commands] of [
      [
        'onebackupjob',
        [
          'create',
          'delete',
          'update',
          'chgrp',
          'chown',
          'chmod',
          'rename',
          'list',
          'show',
          'lock',
          'unlock',
          'backup',
          'cancel',
          'retry',
          'priority',
          'sched-delete',
          'sched-update',
        ],
      ],
      ['onevm', ['create', 'delete', 'list', 'show', 'chown', 'chgrp', 'chmod', 'rename', 'lock', 'unlock']],
      ['onehost', ['create', 'delete', 'list', 'show', 'rename']],
      ['onedatastore', ['create', 'delete', 'list', 'show', 'chown', 'chgrp', 'chmod', 'rename']],
      ['oneimage', ['delete', 'list', 'show', 'chown', 'chgrp', 'chmod', 'rename', 'lock', 'unlock']],
      ['oneuser', ['create', 'passwd', 'delete', 'list', 'show']],
      ['onegroup', ['create', 'list', 'show']],
    ] as const) {
      for (const command of commands) {
        const r = await runCli(cli, [command, '--help'], d);
        assert.equal(r.code, 0, `${cli} ${command}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^${cli} ${command}`), `${cli} ${command}`);
      }
    }
  });

  it('the daemon cannot be reached: a clear message and exit 255', async () => {
    const r = await runCli('onebackupjob', ['list'], d, {
      env: { ONE_XMLRPC: 'http://127.0.0.1:65000/RPC2' },
    });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^cannot reach onebackupd at http:\/\/127\.0\.0\.1:65000\/RPC2 \(ECONNREFUSED\)/);
  });
});

describe('inventory CLIs', () => {
  it('host, VM with real disks, datastore: create, list, show, delete', async () => {
    const host = await runCli('onehost', ['create'], d, {
      input: 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n',
    });
    assert.deepEqual([host.code, host.stdout], [0, 'ID: 0\n']);
    const qcow = join(d.stateDir, 'a.qcow2');
    const raw = join(d.stateDir, 'b.raw');
    makeDisk(qcow, 'qcow2', '64M');
    makeDisk(raw, 'raw', '8M');
    const vm = await runCli('onevm', ['create'], d, {
      input: `NAME = "web-1"\nHOST = "node1"\nDISK = [ SOURCE = "${qcow}" ]\nDISK = [ SOURCE = "${raw}", FORMAT = "raw" ]\n`,
    });
    assert.deepEqual([vm.code, vm.stdout], [0, 'ID: 0\n']);
    const show = await runCli('onevm', ['show', 'web-1'], d);
    assert.match(show.stdout, new RegExp(`DISK 0 {9}: ${qcow} \\(qcow2, 64M\\)`));
    assert.match(show.stdout, new RegExp(`DISK 1 {9}: ${raw} \\(raw, 8M\\)`));
    const wrongFormat = await runCli('onevm', ['create'], d, {
      input: `NAME = "web-2"\nHOST = "node1"\nDISK = [ SOURCE = "${qcow}", FORMAT = "raw" ]\n`,
    });
    assert.equal(wrongFormat.code, 255);
    assert.match(
      wrongFormat.stderr,
      /line 3, col 10 \(DISK\/SOURCE\): disk .*a\.qcow2: FORMAT="raw" but the file is qcow2/,
    );
    const ds = await runCli('onedatastore', ['create'], d, {
      input: 'NAME = "backups"\nCOMPRESSION = "lz4"\n',
    });
    assert.equal(ds.code, 255);
    assert.match(ds.stderr, /\(COMPRESSION\): COMPRESSION="lz4" is not one of zstd, gzip, none/);
    const ds2 = await runCli('onedatastore', ['create'], d, {
      input: 'NAME = "backups"\nENCRYPTION = "YES"\n',
    });
    assert.deepEqual([ds2.code, ds2.stdout], [0, 'ID: 100\n']);
    const list = await runCli('onedatastore', ['list'], d);
    assert.match(list.stdout, /^ {2}ID USER {5}GROUP {4}NAME/);
    // SIZE and AVA: the filesystem under BASE_PATH, as OpenNebula's onedatastore list shows it.
    assert.match(
      list.stdout,
      /\n 100 oneadmin oneadmin backups {9}local {2}zstd {3}YES +\d+(\.\d)?[MGT] +\d+(\.\d)?[MGT] {6}0\n/,
    );
    const hostDel = await runCli('onehost', ['delete', 'node1'], d);
    assert.equal(hostDel.code, 255);
    assert.match(hostDel.stderr, /host 0 still has VMs 0; delete them \(onevm delete\) before the host/);
    assert.equal((await runCli('onevm', ['delete', '0'], d)).code, 0);
    assert.equal((await runCli('onehost', ['delete', '0'], d)).code, 0);
    assert.equal((await runCli('onehost', ['list', '--no-header'], d)).stdout, '');
  });

  it('users and groups', async () => {
    assert.equal((await runCli('onegroup', ['create', 'ops'], d)).stdout, 'ID: 100\n');
    const u = await runCli('oneuser', ['create', 'carol', 'pw1', '--group', 'ops'], d);
    assert.equal(u.code, 0, u.stderr);
    const carol = { env: { ONE_AUTH: '', ONE_XMLRPC: d.url } };
    const show = await runCli('oneuser', ['show', 'carol', '--user', 'carol', '--password', 'pw1'], d, carol);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /GROUP {10}: ops/);
    // PASSWORD is an element user.xsd requires; the hash never fills it.
    const xml = (await runCli('oneuser', ['show', 'carol', '-x'], d)).stdout;
    assert.match(xml, /<PASSWORD\/>|<PASSWORD><\/PASSWORD>/);
    assert.doesNotMatch(xml, /scrypt/);
    assert.equal((await runCli('oneuser', ['passwd', 'carol', 'pw2'], d)).code, 0);
    const old = await runCli('oneuser', ['show', 'carol', '--user', 'carol', '--password', 'pw1'], d, carol);
    assert.equal(old.code, 255);
    const other = await runCli('oneuser', ['show', '0', '--user', 'carol', '--password', 'pw2'], d, carol);
    assert.equal(other.code, 255);
    assert.match(other.stderr, /Not authorized to perform USE USER \[0\]/);
    const members = await runCli('onegroup', ['show', 'ops'], d);
    assert.match(members.stdout, /USERS {10}: 2/);
    assert.equal((await runCli('oneuser', ['delete', 'carol'], d)).code, 0);
    assert.match((await runCli('oneuser', ['delete', '0'], d)).stderr, /oneadmin cannot be deleted/);
  });
});
