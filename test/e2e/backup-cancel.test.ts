/**
 * `onevm backup-cancel` (one.vm.backupcancel) with the real daemon and CLI (issue 14): a queued
 * `onevm backup` leaves the queue and its `--wait` says it was cancelled; a running one stops,
 * records nothing and leaves no chunk or manifest behind, and the VM can be backed up again at
 * once; a job's running VM lands in ERROR with its task failed; a VM with no backup is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { rpc, rpcOk } from '../support/rpc.js';

const DISK_MIB = 96;

/** Every file under a directory (recursively), relative names. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('onevm backup-cancel', () => {
  let d: RunningDaemon;
  let dir: string;
  let dsDir: string;
  const vmDoc = async (vm: number) => String(await rpcOk(d, 'one.vm.info', vm));
  /** Polls the VM until its backup runs (bytes read, not queued). */
  const untilRunning = async (vm: number) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const doc = await vmDoc(vm);
      const done = Number(/<BYTES_DONE>(\d+)</.exec(doc)?.[1] ?? 0);
      if (done > 0 && !/<QUEUED>/.test(doc)) return;
      assert.ok(Date.now() < deadline, `VM ${vm}'s backup never ran:\n${doc}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  before(async () => {
    dir = tempDir();
    dsDir = join(dir, 'backups');
    d = await startDaemon({
      stateDir: dir,
      conf: 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 1\nWORKERS = 1\n',
    });
    await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    mkdirSync(join(dir, 'vms'));
    for (const i of [0, 1, 2]) {
      // Random data: every chunk is compressed (at level 15: below) and written, so a backup
      // lasts seconds, not the fraction of one it takes at level 1.
      const disk = join(dir, 'vms', `vm${i}.raw`);
      writeFileSync(disk, randomBytes((i === 1 ? DISK_MIB : 2 * DISK_MIB) * 1024 * 1024));
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME = "vm-${i}"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      );
    }
    await rpcOk(
      d,
      'one.datastore.allocate',
      `NAME = "backups"\nBASE_PATH = "${dsDir}"\nCOMPRESSION_LEVEL = "15"\n`,
    );
  });
  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('takes a queued backup out of the queue, and stops a running one leaving nothing behind', async () => {
    assert.equal((await runCli('onevm', ['backup', '0', '-d', '100'], d)).code, 0);
    await untilRunning(0);
    // MAX_BACKUPS = 1: VM 1 waits behind VM 0.
    const waiting = runCli('onevm', ['backup', '1', '-d', '100', '--wait'], d);
    const deadline = Date.now() + 30_000;
    while (!/<QUEUED>/.test(await vmDoc(1))) {
      assert.ok(Date.now() < deadline, 'VM 1 never showed as queued');
      await new Promise((r) => setTimeout(r, 10));
    }
    const cancelQueued = await runCli('onevm', ['backup-cancel', 'vm-1', '-v'], d);
    assert.equal(cancelQueued.code, 0, cancelQueued.stderr);
    assert.equal(cancelQueued.stdout, 'VM 1: Canceling backup\n');
    // VM 0 still runs (a larger disk): cancel it through the API at once, no CLI start-up in between.
    const [ok, body] = await rpc(d, 'one.vm.backupcancel', 0);
    assert.equal(ok, true, String(body));
    const waited = await waiting;
    assert.equal(waited.code, 255, waited.stdout);
    assert.match(waited.stderr, /VM 1: .* : \[backup\] backup cancelled by user/);
    assert.doesNotMatch(await vmDoc(1), /<BACKUP_PROGRESS>|<BACKUP_IDS><ID>/);
    const until = Date.now() + 30_000;
    let doc = await vmDoc(0);
    while (/<BACKUP_PROGRESS>/.test(doc) || !/<ERROR>/.test(doc)) {
      assert.ok(Date.now() < until, `VM 0's backup did not stop:\n${doc}`);
      await new Promise((r) => setTimeout(r, 20));
      doc = await vmDoc(0);
    }
    assert.match(doc, /<ERROR><!\[CDATA\[.* : \[backup\] backup cancelled by user\]\]><\/ERROR>/);
    assert.doesNotMatch(doc, /<BACKUP_IDS><ID>/, 'a cancelled backup records no image');
    assert.doesNotMatch(String(await rpcOk(d, 'one.imagepool.info', -2, -1, -1)), /<IMAGE>/);
    // Its chunks and manifest are gone once no backup writes to the datastore.
    assert.deepEqual(
      filesUnder(join(dsDir, 'chunks')),
      [],
      'the cancelled backup left chunks in the datastore',
    );
    assert.deepEqual(filesUnder(join(dsDir, 'backups')), []);
    assert.match(d.logs(), /msg="backup cancelled" vm=1/);

    // Nothing is left holding the VM: it backs up again at once, and the success clears ERROR.
    const again = await runCli('onevm', ['backup', '0', '-d', '100', '--wait'], d);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^VM 0: backup done, image \d+\n$/);
    assert.doesNotMatch(await vmDoc(0), /<ERROR>/);
  });

  it("stops a job's running VM: ERROR in the job, the run's task failed", async () => {
    const job = Number(
      await rpcOk(d, 'one.backupjob.allocate', 'NAME = "j"\nBACKUP_VMS = "2"\nDATASTORE_ID = 100\n'),
    );
    assert.equal((await runCli('onebackupjob', ['backup', String(job)], d)).code, 0);
    await untilRunning(2);
    // The call itself (a CLI's start would give the backup time to finish first).
    await rpcOk(d, 'one.vm.backupcancel', 2);
    const deadline = Date.now() + 30_000;
    let runs = '';
    for (;;) {
      runs = String(await rpcOk(d, 'one.backupjob.runs', job, -1));
      if (/<RESULT>failed<\/RESULT>/.test(runs)) break;
      assert.ok(Date.now() < deadline, `the run did not end:\n${runs}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(runs, /<STATUS>failed<\/STATUS>/);
    assert.match(runs, /backup cancelled by user/);
    const jobDoc = String(await rpcOk(d, 'one.backupjob.info', job));
    assert.match(jobDoc, /<ERROR_VMS><ID>2<\/ID><\/ERROR_VMS>/);
    assert.doesNotMatch(await vmDoc(2), /<BACKUP_IDS><ID>/);
  });

  it('refuses a VM with no backup in progress, and a user without MANAGE', async () => {
    const r = await runCli('onevm', ['backup-cancel', '1'], d);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Could not cancel backup for VM 1, no backup in progress/);
    await rpcOk(d, 'one.user.allocate', 'eve', 'eve-password-1', 'core', []);
    const asEve = await runCli(
      'onevm',
      ['backup-cancel', '1', '--user', 'eve', '--password', 'eve-password-1'],
      d,
    );
    assert.equal(asEve.code, 255);
    assert.match(asEve.stderr, /not authorized|AUTHORIZATION|\[one\.vm\.backupcancel\]/i);
  });
});
