/**
 * Live VMs as libvirt domains (DEPLOY_ID), libvirt's own pull-mode backup API: a real guest writes
 * during each backup; FULL then CBT increments (libvirt checkpoints) restore to one instant;
 * FS_FREEZE=AGENT goes through libvirt's guest agent channel; one checkpoint is kept.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, tempDir } from '../support/daemon.js';
import {
  checkInstant,
  type LibvirtGuest,
  libvirtUnavailable,
  rawBytes,
  startLibvirtGuest,
} from '../support/guest.js';
import {
  backupLive,
  incrementsOf,
  restoredInstants,
  restoreLive,
  startLiveWorld,
  xmlField,
} from '../support/live-backups.js';
import { rpcOk } from '../support/rpc.js';
import { startSshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
const BLOCKS = 256;
const skip = await libvirtUnavailable();

let d: RunningDaemon;
let work: string;
const guests: LibvirtGuest[] = [];
const cli = (name: string, args: string[]) => runCli(name, args, d);

const virsh = (...args: string[]) =>
  execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args]).toString();

describe('live backups of libvirt domains', { skip }, () => {
  before(async () => {
    work = tempDir('onebackup-libvirt-');
    chmodSync(work, 0o755);
    d = await startLiveWorld();
  });
  after(async () => {
    for (const g of guests) await g.stop();
    await d?.stop();
    if (d) cleanup(d.stateDir);
    cleanup(work);
  });

  it('qcow2 domain: FULL then CBT increments with FS_FREEZE=AGENT, the guest writing, each one instant', async () => {
    const initial = Buffer.alloc(64 * MiB);
    initial.fill(0x5a, 40 * MiB, 41 * MiB);
    const raw = join(work, 'initial.raw');
    writeFileSync(raw, initial);
    const disk = join(work, 'web.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
    const domain = `onebackup-test-${process.pid}`;
    const guest = await startLibvirtGuest({
      dir: work,
      disk,
      format: 'qcow2',
      blocks: BLOCKS,
      delayUs: 3000,
      domain,
    });
    guests.push(guest);
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME="web"\nHOST="kvm1"\nDEPLOY_ID="${domain}"\nBACKUP_CONFIG=[MODE="INCREMENT", FS_FREEZE="AGENT"]\n` +
          `DISK=[SOURCE="${disk}", FORMAT="qcow2"]\n`,
      ),
    );
    const image = await backupLive(d, vm);
    await guest.waitSeq(guest.seq() + 200);
    assert.equal(await backupLive(d, vm), image);
    const incs = await incrementsOf(d, image);
    assert.equal(incs.length, 2);
    assert.equal(xmlField(incs[0] as string, 'CONSISTENCY'), 'filesystem');
    assert.equal(xmlField(incs[1] as string, 'CHANGES_SINCE'), xmlField(incs[0] as string, 'CHECKPOINT'));
    assert.ok(Number(xmlField(incs[1] as string, 'BYTES_READ')) < 32 * MiB, incs[1]);
    const seen = await restoredInstants(d, work, image, 2, { initial, blocks: BLOCKS, stride: guest.stride });
    assert.ok((seen[0] as number) < (seen[1] as number), `${seen}`);
    assert.match(guest.console(), /agent: frozen[\s\S]*agent: thawed/);
    const checkpoints = virsh('checkpoint-list', domain, '--name')
      .split('\n')
      .filter((l) => l.startsWith('onebackup-'));
    assert.deepEqual(checkpoints, [xmlField(incs[1] as string, 'CHECKPOINT')]);
    assert.equal(virsh('domstate', domain).trim(), 'running');
  });

  it('onehost sync imports a shut-off domain with its disks; its backup reads the files; a removed domain is marked gone', async () => {
    const disk = join(work, 'db.raw');
    const data = Buffer.alloc(8 * MiB);
    data.fill(0x77, MiB, 3 * MiB);
    writeFileSync(disk, data);
    const domain = `onebackup-sync-${process.pid}`;
    const xmlPath = join(work, 'db.xml');
    writeFileSync(
      xmlPath,
      `<domain type='qemu'><name>${domain}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
    );
    virsh('define', xmlPath);
    try {
      const sync = await cli('onehost', ['sync', 'kvm1']);
      assert.equal(sync.code, 0, sync.stderr);
      const list0 = await cli('onevm', ['list', '--csv']);
      const added = new RegExp(`^(\\d+),[^\\n]*${domain}`, 'm').exec(list0.stdout)?.[1];
      assert.ok(
        added && (/ADDED=([\d,]+)/.exec(sync.stdout)?.[1] ?? '').split(',').includes(added),
        `${sync.stdout}${list0.stdout}`,
      );
      const show = await cli('onevm', ['show', added, '-x']);
      assert.match(show.stdout, new RegExp(`<DEPLOY_ID>(<!\\[CDATA\\[)?${domain}`));
      assert.match(show.stdout, new RegExp(disk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      const image = await backupLive(d, Number(added));
      const to = join(work, 'db-restore');
      const r = await cli('oneimage', ['restore', image, '--disk-id', '0', '--to', to]);
      assert.equal(r.code, 0, r.stderr);
      const file = /DISK 0: (\S+)/.exec(r.stdout)?.[1] as string;
      assert.ok(execFileSync('cmp', [file, disk]).length === 0);
      // A new domain like it, on the restored disk (in a directory QEMU can read).
      const copyDir = join(work, 'copy');
      const copy = await cli('oneimage', [
        'restore',
        image,
        '--name',
        `${domain}-copy`,
        '--define-domain',
        '--to',
        copyDir,
      ]);
      assert.equal(copy.code, 0, copy.stderr);
      assert.match(copy.stdout, new RegExp(`DEPLOY_ID: ${domain}-copy`));
      try {
        const copyXml = virsh('dumpxml', `${domain}-copy`);
        const restored = /DISK 0: (\S+)/.exec(copy.stdout)?.[1] as string;
        assert.ok(copyXml.includes(`file='${restored}'`), copyXml);
        assert.ok(!copyXml.includes(`file='${disk}'`), 'the copy never shares the original disk');
        assert.equal(virsh('domstate', `${domain}-copy`).trim(), 'shut off');
        assert.ok(execFileSync('cmp', [restored, disk]).length === 0);
      } finally {
        virsh('undefine', `${domain}-copy`);
      }
      assert.equal(
        (await cli('onehost', ['sync', 'kvm1'])).stdout.includes(`ADDED=-`),
        true,
        'a second sync adds nothing',
      );
    } finally {
      virsh('undefine', domain);
    }
    const gone = await cli('onehost', ['sync', 'kvm1']);
    assert.match(gone.stdout, /GONE=\d+/);
  });

  it('a host reached over SSH: onehost sync lists its libvirt domains through the host agent; a shut-off one backs up and restores', async () => {
    mkdirSync(join(work, 'ssh-host'));
    const host = await startSshd(join(work, 'ssh-host'), '127.0.0.8');
    const disk = join(work, 'remote.raw');
    const data = Buffer.alloc(8 * MiB);
    data.fill(0x3c, 2 * MiB, 5 * MiB);
    writeFileSync(disk, data);
    const domain = `onebackup-ssh-${process.pid}`;
    const xmlPath = join(work, 'remote.xml');
    writeFileSync(
      xmlPath,
      `<domain type='qemu'><name>${domain}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
    );
    virsh('define', xmlPath);
    try {
      await rpcOk(d, 'one.host.allocate', host.hostTemplate('kvm'));
      const sync = await cli('onehost', ['sync', host.host]);
      assert.equal(sync.code, 0, sync.stderr);
      const list = await cli('onevm', ['list', '--csv']);
      const added = new RegExp(
        `^(\\d+),[^\\n]*${domain}[^\\n]*${host.host.replaceAll('.', '\\.')}`,
        'm',
      ).exec(list.stdout)?.[1];
      assert.ok(added, `${sync.stdout}${list.stdout}`);
      const show = await cli('onevm', ['show', added, '-x']);
      assert.match(show.stdout, /<STATE>8<\/STATE>/, 'POWEROFF, as libvirt on the host says');
      const image = await backupLive(d, Number(added));
      const r = await cli('oneimage', [
        'restore',
        image,
        '--disk-id',
        '0',
        '--to',
        join(work, 'remote-restore'),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(/DISK 0: (\S+)/.exec(r.stdout)?.[1] as string).equals(data));
      assert.match(host.log(), /Accepted publickey/, "virsh ran on the host, through its agent's login");
    } finally {
      virsh('undefine', domain);
      await host.stop();
    }
  });

  it('raw domain: full backups of one instant; an increment reads the whole disk, since libvirt keeps no checkpoint in raw disks', async () => {
    const initial = Buffer.alloc(32 * MiB);
    initial.fill(0x33, 20 * MiB, 21 * MiB);
    const disk = join(work, 'raw-guest.raw');
    writeFileSync(disk, initial);
    const domain = `onebackup-raw-${process.pid}`;
    const guest = await startLibvirtGuest({
      dir: work,
      disk,
      format: 'raw',
      blocks: BLOCKS,
      delayUs: 3000,
      domain,
    });
    guests.push(guest);
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME="rawvm"\nHOST="kvm1"\nDEPLOY_ID="${domain}"\nBACKUP_CONFIG=[MODE="INCREMENT"]\n`,
      ),
    );
    const image = await backupLive(d, vm);
    await guest.waitSeq(guest.seq() + 200);
    assert.equal(await backupLive(d, vm), image);
    const incs = await incrementsOf(d, image);
    assert.match(
      xmlField(incs[1] as string, 'FULL_READ') ?? '',
      /libvirt keeps checkpoints only in qcow2 disks/,
    );
    const seen = [];
    for (const i of [0, 1])
      seen.push(
        checkInstant(
          rawBytes(await restoreLive(d, work, image, { increment: i }), 'raw', work),
          initial,
          BLOCKS,
          guest.stride,
        ),
      );
    assert.ok((seen[0] as number) < (seen[1] as number), `${seen}`);
  });
});
