/**
 * Live VMs on a kvm host through a bare QEMU's QMP socket: a real guest (test/support/guest.ts)
 * writes numbered records to its disk during every backup; each backup, FULL and then CBT
 * increments, must restore to the disk of exactly one instant, raw and qcow2. Checkpoints never
 * pile up; an increment whose checkpoint is gone reads the whole disk and says why.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QmpClient } from '../../drivers/hypervisor/qmp.js';
import { cleanup, type RunningDaemon, runCli, tempDir } from '../support/daemon.js';
import { checkInstant, type Guest, guestUnavailable, rawBytes, startGuest } from '../support/guest.js';
import { backupLive, incrementsOf, restoreLive, startLiveWorld, xmlField } from '../support/live-backups.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const BLOCKS = 256;
const skip = guestUnavailable();

let d: RunningDaemon;
let work: string;
const cli = (name: string, args: string[]) => runCli(name, args, d);

async function ourBitmaps(socket: string): Promise<string[]> {
  const qmp = await QmpClient.connect(socket);
  try {
    const block = (await qmp.execute('query-block')) as {
      inserted?: { 'dirty-bitmaps'?: { name: string }[] };
    }[];
    return block
      .flatMap((b) => b.inserted?.['dirty-bitmaps'] ?? [])
      .map((b) => b.name)
      .filter((n) => n.startsWith('onebackup-'));
  } finally {
    qmp.close();
  }
}

/** A 64 MiB disk with data beyond the writer's region, its initial guest bytes, and a guest on it. */
async function liveVm(name: string, format: 'raw' | 'qcow2', delayUs: number) {
  const raw = join(work, `${name}-initial.raw`);
  const initial = Buffer.alloc(64 * MiB);
  initial.fill(0x5a, 40 * MiB, 41 * MiB);
  writeFileSync(raw, initial);
  let disk = raw;
  if (format === 'qcow2') {
    disk = join(work, `${name}.qcow2`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  } else {
    disk = join(work, `${name}.raw`);
    writeFileSync(disk, initial);
  }
  const dir = tempDir('onebackup-guest-run-');
  const guest = await startGuest({ dir, disk, format, blocks: BLOCKS, delayUs });
  // The raw VMs name no DISK: their disks come from QEMU (query-block).
  const diskLine = format === 'raw' ? '' : `DISK=[SOURCE="${disk}", FORMAT="${format}"]\n`;
  const id = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="${name}"\nHOST="kvm1"\nQMP_SOCKET="${guest.qmpSocket}"\nGUEST_AGENT_SOCKET="${guest.agentSocket}"\n` +
        `BACKUP_CONFIG=[MODE="INCREMENT"]\n${diskLine}`,
    ),
  );
  const shown = await runCli('onevm', ['show', String(id), '-x'], d);
  assert.ok(shown.stdout.includes(disk), `the disk as QEMU has it: ${shown.stdout}`);
  return { id, guest, initial, dir, disk };
}

describe('live backups of a running VM through QMP', { skip }, () => {
  const guests: { guest: Guest; dir: string }[] = [];
  before(async () => {
    work = tempDir('onebackup-kvm-');
    d = await startLiveWorld();
  });
  after(async () => {
    for (const g of guests) {
      await g.guest.stop();
      cleanup(g.dir);
    }
    await d?.stop();
    if (d) cleanup(d.stateDir);
    cleanup(work);
  });

  for (const format of ['qcow2', 'raw'] as const) {
    it(`${format}: FULL then CBT increments, the guest writing throughout, each restores to one instant`, async () => {
      const vm = await liveVm(`live-${format}`, format, 3000);
      guests.push(vm);
      const seen: number[] = [];
      const image = await backupLive(d, vm.id);
      for (let i = 0; i < 2; i++) {
        await vm.guest.waitSeq(vm.guest.seq() + 200);
        assert.equal(await backupLive(d, vm.id), image, 'an increment adds to the same image');
      }
      const incs = await incrementsOf(d, image);
      assert.equal(incs.length, 3);
      assert.equal(xmlField(incs[0] as string, 'TYPE'), 'FULL');
      for (const [i, inc] of incs.entries()) {
        assert.equal(xmlField(inc, 'CONSISTENCY'), 'crash');
        if (i > 0) {
          assert.equal(xmlField(inc, 'TYPE'), 'INCREMENT');
          assert.equal(xmlField(inc, 'FULL_READ'), undefined, inc);
          const changed = Number(xmlField(inc, 'CHANGED_BYTES'));
          assert.ok(
            changed > 0 && changed <= BLOCKS * 64 * 1024,
            `changed bytes ${changed} within the written region`,
          );
          assert.ok(
            Number(xmlField(inc, 'BYTES_READ')) < (64 * MiB) / 2,
            'an increment reads only changed chunks',
          );
        }
        const m = checkInstant(
          rawBytes(await restoreLive(d, work, image, { increment: i }), format, work),
          vm.initial,
          BLOCKS,
          vm.guest.stride,
        );
        seen.push(m);
      }
      assert.ok(
        (seen[0] as number) > 0 &&
          (seen[0] as number) < (seen[1] as number) &&
          (seen[1] as number) < (seen[2] as number),
        `instants in order: ${seen}`,
      );
      // The guest kept writing past the last instant: the backup did not stop it.
      await vm.guest.waitSeq((seen[2] as number) + 100);
      assert.deepEqual(
        (await ourBitmaps(vm.guest.qmpSocket)).length,
        1,
        'one checkpoint is kept, the older ones removed',
      );
    });
  }

  it('an increment whose checkpoint was removed reads the whole disk, says why, and is still one instant', async () => {
    const vm = await liveVm('lost-checkpoint', 'qcow2', 3000);
    guests.push(vm);
    const image = await backupLive(d, vm.id);
    const names = await ourBitmaps(vm.guest.qmpSocket);
    const qmp = await QmpClient.connect(vm.guest.qmpSocket);
    for (const name of names) await qmp.execute('block-dirty-bitmap-remove', { node: 'disk0', name });
    qmp.close();
    await vm.guest.waitSeq(vm.guest.seq() + 100);
    await backupLive(d, vm.id);
    const inc = (await incrementsOf(d, image))[1] as string;
    assert.match(xmlField(inc, 'FULL_READ') ?? '', /checkpoint onebackup-\S+ is not on disk 0/);
    const shown = await cli('oneimage', ['show', image]);
    assert.match(shown.stdout, /INCREMENT 0: crash-consistent\n/);
    assert.match(shown.stdout, /INCREMENT 1: read whole: disk 0: checkpoint onebackup-\S+ is not on disk 0/);
    const restoredM = checkInstant(
      rawBytes(await restoreLive(d, work, image, { increment: 1 }), 'qcow2', work),
      vm.initial,
      BLOCKS,
      vm.guest.stride,
    );
    assert.equal((await ourBitmaps(vm.guest.qmpSocket)).length, 1);
    // In place only when QEMU is gone: the state is asked of the hypervisor, not the inventory.
    const refused = await cli('onevm', ['restore', String(vm.id), image, '--increment', '1']);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /must be POWEROFF .*RUNNING according to its hypervisor/);
    await vm.guest.stop();
    // The host monitor (every 2 s here) sees QEMU gone: the inventory says POWEROFF.
    const deadline = Date.now() + 30_000;
    while (!/<STATE>8<\/STATE>/.test((await cli('onevm', ['show', String(vm.id), '-x'])).stdout)) {
      assert.ok(Date.now() < deadline, 'the monitor marks the VM POWEROFF');
      await new Promise((r) => setTimeout(r, 500));
    }
    const inPlace = await cli('onevm', ['restore', String(vm.id), image, '--increment', '1']);
    assert.equal(inPlace.code, 0, inPlace.stderr);
    assert.equal(
      checkInstant(rawBytes(vm.disk, 'qcow2', work), vm.initial, BLOCKS, vm.guest.stride),
      restoredM,
    );
  });

  it('a scheduled job backs a running VM up every minute, FULL then a CBT increment, each one instant', async () => {
    const vm = await liveVm('scheduled', 'qcow2', 3000);
    guests.push(vm);
    const tmpl = join(work, 'job.tmpl');
    writeFileSync(
      tmpl,
      `NAME="live-every-minute"\nBACKUP_VMS="${vm.id}"\nDATASTORE_ID=100\nMODE="INCREMENT"\n`,
    );
    const created = await cli('onebackupjob', ['create', tmpl]);
    assert.equal(created.code, 0, created.stderr);
    const job = /ID: (\d+)/.exec(created.stdout)?.[1] as string;
    const sched = await cli('onebackupjob', ['backup', job, '--interval', '1 minute']);
    assert.equal(sched.code, 0, sched.stderr);
    const imageOf = async () => {
      const list = await cli('oneimage', ['list', '--csv']);
      return new RegExp(`^(\\d+),[^\\n]*,${vm.id} `, 'm').exec(list.stdout)?.[1];
    };
    const deadline = Date.now() + 150_000;
    let incs: string[] = [];
    for (;;) {
      const image = await imageOf();
      incs = image === undefined ? [] : await incrementsOf(d, image);
      if (incs.length >= 2) break;
      assert.ok(
        Date.now() < deadline,
        `two scheduled backups in 150 s: ${incs.length}\n${d.logs().slice(-2000)}`,
      );
      await new Promise((r) => setTimeout(r, 1000));
    }
    const image = (await imageOf()) as string;
    assert.equal(xmlField(incs[0] as string, 'TYPE'), 'FULL');
    assert.equal(xmlField(incs[1] as string, 'TYPE'), 'INCREMENT');
    assert.equal(xmlField(incs[1] as string, 'CHANGES_SINCE'), xmlField(incs[0] as string, 'CHECKPOINT'));
    const m0 = checkInstant(
      rawBytes(await restoreLive(d, work, image, { increment: 0 }), 'qcow2', work),
      vm.initial,
      BLOCKS,
      vm.guest.stride,
    );
    const m1 = checkInstant(
      rawBytes(await restoreLive(d, work, image, { increment: 1 }), 'qcow2', work),
      vm.initial,
      BLOCKS,
      vm.guest.stride,
    );
    assert.ok(m0 < m1, `${m0} < ${m1}`);
    assert.equal((await cli('onebackupjob', ['delete', job])).code, 0);
  });

  it('a CBT increment reads again the unchanged chunks the datastore lost, and restores to one instant', async () => {
    const vm = await liveVm('lost-chunks', 'raw', 3000);
    guests.push(vm);
    const image = await backupLive(d, vm.id);
    // Every stored chunk gone (what a quarantine or a hand does to one): the unchanged chunk of
    // 0x5a bytes at 40 MiB cannot be taken from the FULL, though no changed block touches it.
    const chunks = execFileSync('find', [d.stateDir, '-path', '*/chunks/*', '-type', 'f'], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((f) => f !== '');
    assert.ok(chunks.length > 0, 'the FULL stored chunks');
    for (const f of chunks) rmSync(f);
    await vm.guest.waitSeq(vm.guest.seq() + 100);
    await backupLive(d, vm.id);
    const inc = (await incrementsOf(d, image))[1] as string;
    assert.equal(xmlField(inc, 'FULL_READ'), undefined, 'still a CBT increment');
    const m = checkInstant(
      rawBytes(await restoreLive(d, work, image, { increment: 1 }), 'raw', work),
      vm.initial,
      BLOCKS,
      vm.guest.stride,
    );
    assert.ok(m > 0, 'the increment restores to one instant');
  });
});
