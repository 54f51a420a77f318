/**
 * FS_FREEZE and crashes on live VMs (bare QEMU through QMP, a real guest whose agent pauses its
 * writes while frozen): AGENT and SUSPEND give filesystem-consistent backups of one instant across
 * two disks and always thaw; a guest agent that does not answer leaves a crash-consistent backup
 * with a warning; kill -9 of the daemon while the guest is frozen, or while a backup reads the
 * export, leaves the VM running, and the next start thaws it and removes exports and fleecing
 * nodes, after which backups work.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QmpClient } from '../../drivers/hypervisor/qmp.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { checkInstant, type Guest, guestUnavailable, rawBytes, startGuest } from '../support/guest.js';
import { backupLive, incrementsOf, restoreLive, startLiveWorld, xmlField } from '../support/live-backups.js';
import { rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const BLOCKS = 256;
const skip = guestUnavailable();

let d: RunningDaemon;
let stateDir: string;
let work: string;
const guests: { guest: Guest; dir: string }[] = [];
const cli = (name: string, args: string[]) => runCli(name, args, d);

/** What QEMU holds of ours: exports, fleecing nodes, block jobs, checkpoints; and its run state. */
async function qemuState(socket: string) {
  const qmp = await QmpClient.connect(socket);
  try {
    const names = (v: unknown, key: string) =>
      (Array.isArray(v) ? v : [])
        .map((x) => String((x as Record<string, unknown>)[key] ?? ''))
        .filter((n) => n.startsWith('onebackup-'));
    const block = (await qmp.execute('query-block')) as {
      inserted?: { 'dirty-bitmaps'?: { name: string }[] };
    }[];
    return {
      exports: names(await qmp.execute('query-block-exports'), 'id'),
      nodes: names(await qmp.execute('query-named-block-nodes', { flat: true }), 'node-name'),
      jobs: names(await qmp.execute('query-block-jobs'), 'device'),
      bitmaps: block
        .flatMap((b) => b.inserted?.['dirty-bitmaps'] ?? [])
        .map((b) => String(b.name))
        .filter((n) => n.startsWith('onebackup-')),
      status: String(((await qmp.execute('query-status')) as { status?: string }).status),
    };
  } finally {
    qmp.close();
  }
}

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A check that throws counts as not yet: QMP serves one client, and while the daemon holds the
  // socket (setting up or ending a view) a probe gets no greeting in time.
  let lastError = '';
  const passes = async () => {
    try {
      return await check();
    } catch (err) {
      lastError = (err as Error).message;
      return false;
    }
  };
  while (!(await passes())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last check: ${lastError})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface LiveVm {
  readonly id: number;
  readonly guest: Guest;
  readonly initial: Buffer;
  readonly extra: Buffer;
}

/** A qcow2 system disk the guest writes and a raw data disk it does not, on a running guest. */
async function liveVm(
  name: string,
  config: string,
  opts: { freezeDelayMs?: number; extraMiB?: number; agent?: boolean } = {},
): Promise<LiveVm> {
  const initial = Buffer.alloc(32 * MiB);
  initial.fill(0x5a, 20 * MiB, 21 * MiB);
  const raw = join(work, `${name}-initial.raw`);
  writeFileSync(raw, initial);
  const disk = join(work, `${name}.qcow2`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  const extraPath = join(work, `${name}-data.raw`);
  const extra = Buffer.alloc((opts.extraMiB ?? 8) * MiB);
  for (let at = 0; at < extra.length; at += 64 * MiB)
    randomBytes(Math.min(64 * MiB, extra.length - at)).copy(extra, at);
  writeFileSync(extraPath, extra);
  const dir = tempDir('onebackup-guest-run-');
  const guest = await startGuest({
    dir,
    disk,
    format: 'qcow2',
    blocks: BLOCKS,
    delayUs: 3000,
    extraDisk: extraPath,
    ...(opts.freezeDelayMs ? { freezeDelayMs: opts.freezeDelayMs } : {}),
  });
  guests.push({ guest, dir });
  const agent = opts.agent === false ? join(dir, 'no-agent.sock') : guest.agentSocket;
  const id = Number(
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="${name}"\nHOST="kvm1"\nQMP_SOCKET="${guest.qmpSocket}"\nGUEST_AGENT_SOCKET="${agent}"\n${config}\n` +
        `DISK=[SOURCE="${disk}", FORMAT="qcow2"]\nDISK=[SOURCE="${extraPath}", FORMAT="raw"]\n`,
    ),
  );
  return { id, guest, initial, extra };
}

/** Both disks of the image's last increment restore to one instant of the guest. */
async function checkRestores(vm: LiveVm, image: string): Promise<number> {
  const m = checkInstant(
    rawBytes(await restoreLive(d, work, image, { disk: 0 }), 'qcow2', work),
    vm.initial,
    BLOCKS,
    vm.guest.stride,
  );
  assert.ok(
    readFileSync(await restoreLive(d, work, image, { disk: 1 })).equals(vm.extra),
    'the data disk restores bit for bit',
  );
  return m;
}

describe('FS_FREEZE and crashes on live VMs', { skip }, () => {
  before(async () => {
    work = tempDir('onebackup-kvm-');
    stateDir = tempDir();
    d = await startLiveWorld(stateDir);
  });
  after(async () => {
    for (const g of guests) {
      await g.guest.stop();
      cleanup(g.dir);
    }
    await d?.stop();
    cleanup(stateDir);
    cleanup(work);
  });

  it('AGENT freezes the guest for the instant only: filesystem-consistent, thawed, two disks of one instant', async () => {
    const vm = await liveVm('agent', 'BACKUP_CONFIG=[FS_FREEZE="AGENT"]');
    const image = await backupLive(d, vm.id);
    const inc = (await incrementsOf(d, image)).at(-1) ?? '';
    assert.equal(xmlField(inc, 'CONSISTENCY'), 'filesystem');
    assert.ok(Number(xmlField(inc, 'FROZEN_MS')) > 0, inc);
    assert.equal(xmlField(inc, 'WARNING'), undefined);
    const m = await checkRestores(vm, image);
    assert.match(vm.guest.console(), /agent: frozen[\s\S]*agent: thawed/);
    await vm.guest.waitSeq(m + 100);
  });

  it('SUSPEND pauses the vCPUs for the instant and resumes them', async () => {
    const vm = await liveVm('suspend', 'BACKUP_CONFIG=[FS_FREEZE="SUSPEND"]');
    const image = await backupLive(d, vm.id);
    const inc = (await incrementsOf(d, image)).at(-1) ?? '';
    assert.equal(xmlField(inc, 'CONSISTENCY'), 'filesystem');
    assert.equal((await qemuState(vm.guest.qmpSocket)).status, 'running');
    const m = await checkRestores(vm, image);
    await vm.guest.waitSeq(m + 100);
  });

  it('a guest agent that does not answer: the backup goes on crash-consistent and says so', async () => {
    const vm = await liveVm('no-agent', 'BACKUP_CONFIG=[FS_FREEZE="AGENT"]', { agent: false });
    const image = await backupLive(d, vm.id);
    const inc = (await incrementsOf(d, image)).at(-1) ?? '';
    assert.equal(xmlField(inc, 'CONSISTENCY'), 'crash');
    assert.match(xmlField(inc, 'WARNING') ?? '', /FS_FREEZE=AGENT failed .*crash-consistent/);
    await checkRestores(vm, image);
  });

  it('kill -9 while the guest is frozen: the VM keeps running and the next start thaws it', async () => {
    const vm = await liveVm('frozen-kill', 'BACKUP_CONFIG=[FS_FREEZE="AGENT"]', { freezeDelayMs: 8000 });
    const started = await cli('onevm', ['backup', String(vm.id), '-d', '100']);
    assert.equal(started.code, 0, started.stderr);
    await until('the guest to be frozen', () => vm.guest.console().includes('agent: frozen'));
    await d.stop('SIGKILL');
    const frozenAt = vm.guest.seq();
    d = await startDaemon({ stateDir });
    await until(
      'the guest to be thawed by the restarted daemon',
      () => vm.guest.console().includes('agent: thawed'),
      90_000,
    );
    await vm.guest.waitSeq(frozenAt + 200);
    assert.match(d.logs(), /thawed a freeze left by a crash/);
  });

  it('kill -9 while a backup reads the export: the next start removes exports and fleecing nodes; backups work', async () => {
    const vm = await liveVm('read-kill', 'BACKUP_CONFIG=[MODE="INCREMENT"]', { extraMiB: 768 });
    const started = await cli('onevm', ['backup', String(vm.id), '-d', '100']);
    assert.equal(started.code, 0, started.stderr);
    await until('the export to be up', async () => (await qemuState(vm.guest.qmpSocket)).exports.length > 0);
    await d.stop('SIGKILL');
    const left = await qemuState(vm.guest.qmpSocket);
    assert.ok(
      left.nodes.length > 0 && left.jobs.length > 0,
      `a crash leaves fleecing behind: ${JSON.stringify(left)}`,
    );
    const seq = vm.guest.seq();
    await vm.guest.waitSeq(seq + 100);
    d = await startDaemon({ stateDir });
    const cleaned = await qemuState(vm.guest.qmpSocket);
    assert.deepEqual([cleaned.exports, cleaned.nodes, cleaned.jobs], [[], [], []]);
    assert.equal(cleaned.status, 'running');
    const image = await backupLive(d, vm.id);
    await checkRestores(vm, image);
    const { bitmaps } = await qemuState(vm.guest.qmpSocket);
    assert.equal(new Set(bitmaps).size, 1, `one checkpoint (on each of the 2 disks) is left: ${bitmaps}`);
    assert.equal(bitmaps.length, 2);
  });

  it('cancelling a job while it reads a live VM removes the export and fleecing at once; the next run works', async () => {
    const vm = await liveVm('cancelled', 'BACKUP_CONFIG=[MODE="INCREMENT"]', { extraMiB: 768 });
    const tmpl = join(work, 'cancel-job.tmpl');
    writeFileSync(tmpl, `NAME="cancel-me"\nBACKUP_VMS="${vm.id}"\nDATASTORE_ID=100\nMODE="INCREMENT"\n`);
    const created = await cli('onebackupjob', ['create', tmpl]);
    assert.equal(created.code, 0, created.stderr);
    const job = /ID: (\d+)/.exec(created.stdout)?.[1] as string;
    assert.equal((await cli('onebackupjob', ['backup', job])).code, 0);
    await until('the export to be up', async () => (await qemuState(vm.guest.qmpSocket)).exports.length > 0);
    const cancel = await cli('onebackupjob', ['cancel', job]);
    assert.equal(cancel.code, 0, cancel.stderr);
    await until(
      'the export, fleecing nodes and jobs to go',
      async () => {
        const q = await qemuState(vm.guest.qmpSocket);
        return q.exports.length + q.nodes.length + q.jobs.length === 0;
      },
      15_000,
    );
    const q = await qemuState(vm.guest.qmpSocket);
    assert.equal(q.status, 'running');
    assert.equal(
      (await cli('oneimage', ['list', '--csv'])).stdout.includes(`,${vm.id} `),
      false,
      'no image from a cancelled backup',
    );
    // The next run backs the VM up whole (the cancelled attempt's checkpoint is gone) and restores to one instant.
    assert.equal((await cli('onebackupjob', ['backup', job])).code, 0);
    let image: string | undefined;
    await until(
      'the next run to record a backup',
      async () => {
        image = new RegExp(`^(\\d+),[^\\n]*,${vm.id} `, 'm').exec(
          (await cli('oneimage', ['list', '--csv'])).stdout,
        )?.[1];
        return image !== undefined;
      },
      120_000,
    );
    await checkRestores(vm, image as string);
  });

  it('an increment after one that crashed reads whole disks, says why, and is one instant; checkpoints stay bounded', async () => {
    const vm = await liveVm('after-crash', 'BACKUP_CONFIG=[MODE="INCREMENT"]', { extraMiB: 768 });
    const image = await backupLive(d, vm.id);
    // 600 MiB of new random data on the data disk (through QEMU: it holds the file), so the
    // next increment takes long enough to be killed while it reads.
    const noise = join(work, 'noise.bin');
    writeFileSync(noise, randomBytes(600 * MiB));
    const qmp = await QmpClient.connect(vm.guest.qmpSocket);
    await qmp.execute(
      'human-monitor-command',
      { 'command-line': `qemu-io disk1 "write -s ${noise} 0 600M"` },
      120_000,
    );
    qmp.close();
    const fresh = readFileSync(noise);
    fresh.copy(vm.extra, 0);
    assert.equal((await cli('onevm', ['backup', String(vm.id), '-d', '100'])).code, 0);
    await until('the export to be up', async () => (await qemuState(vm.guest.qmpSocket)).exports.length > 0);
    await d.stop('SIGKILL');
    d = await startDaemon({ stateDir });
    // The interrupted increment may be run again by the restarted daemon: wait for the VM to be idle.
    await until(
      'no backup of the VM running',
      async () => !(await cli('onevm', ['show', String(vm.id), '-x'])).stdout.includes('<BACKUP_PROGRESS>'),
      120_000,
    );
    await vm.guest.waitSeq(vm.guest.seq() + 200);
    assert.equal(await backupLive(d, vm.id), image);
    const incs = await incrementsOf(d, image);
    const fullRead = incs.map((x) => xmlField(x, 'FULL_READ') ?? '').find((x) => x !== '');
    assert.match(
      fullRead ?? '',
      /stopped recording \(an earlier backup attempt did not finish\)/,
      incs.join('\n'),
    );
    await checkRestores(vm, image);
    const { bitmaps } = await qemuState(vm.guest.qmpSocket);
    assert.equal(new Set(bitmaps).size, 1, `one checkpoint left: ${bitmaps}`);
  });

  it("a job's FS_FREEZE=AGENT with FS_FREEZE_FAILURE=FAIL fails the backup when the agent does not answer, and says why", async () => {
    const vm = await liveVm('job-freeze', 'BACKUP_CONFIG=[FS_FREEZE="NONE"]', { agent: false });
    const tmpl = join(work, 'freeze-job.tmpl');
    writeFileSync(
      tmpl,
      `NAME="must-freeze"\nBACKUP_VMS="${vm.id}"\nDATASTORE_ID=100\nFS_FREEZE="AGENT"\nFS_FREEZE_FAILURE="FAIL"\nMAX_RETRIES=0\n`,
    );
    const created = await cli('onebackupjob', ['create', tmpl]);
    assert.equal(created.code, 0, created.stderr);
    const job = /ID: (\d+)/.exec(created.stdout)?.[1] as string;
    assert.equal((await cli('onebackupjob', ['backup', job])).code, 0);
    let shown = '';
    await until(
      'the job VM to fail',
      async () => {
        shown = (await cli('onebackupjob', ['show', job, '-x'])).stdout;
        return /<ERROR_VMS><ID>\d+<\/ID>/.test(shown) || /<ERROR_VMS>\s*<ID>/.test(shown);
      },
      90_000,
    );
    const vmDoc = (await cli('onevm', ['show', String(vm.id), '-x'])).stdout;
    assert.match(vmDoc + d.logs(), /FS_FREEZE=AGENT failed .*FS_FREEZE_FAILURE=FAIL stops the backup/);
    assert.equal((await cli('oneimage', ['list', '--csv'])).stdout.includes(`,${vm.id} `), false, 'no image');
    assert.equal((await qemuState(vm.guest.qmpSocket)).status, 'running');
  });

  it('an increment after the disk was resized reads the whole disk, says why, and restores at the new size', async () => {
    const vm = await liveVm('resized', 'BACKUP_CONFIG=[MODE="INCREMENT"]');
    const image = await backupLive(d, vm.id);
    const qmp = await QmpClient.connect(vm.guest.qmpSocket);
    await qmp.execute('block_resize', { 'node-name': 'disk0', size: 48 * MiB });
    qmp.close();
    await vm.guest.waitSeq(vm.guest.seq() + 100);
    assert.equal(await backupLive(d, vm.id), image);
    const inc = (await incrementsOf(d, image)).at(-1) ?? '';
    assert.match(xmlField(inc, 'FULL_READ') ?? '', /resized/);
    const grown = Buffer.concat([vm.initial, Buffer.alloc(16 * MiB)]);
    checkInstant(
      rawBytes(await restoreLive(d, work, image, { disk: 0 }), 'qcow2', work),
      grown,
      BLOCKS,
      vm.guest.stride,
    );
  });
});
