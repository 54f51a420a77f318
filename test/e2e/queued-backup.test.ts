/**
 * `onevm backup` behind full slots, with the real daemon and CLI (issue 9): with MAX_BACKUPS = 1,
 * a second VM's backup is queued, `onevm show -x` says why, `onevm backup --wait` reports the queue
 * and then the recorded backup, and the two backups never overlap.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { rpcOk } from '../support/rpc.js';

describe('onevm backup behind full slots', () => {
  let d: RunningDaemon;
  let dir: string;
  before(async () => {
    dir = tempDir();
    d = await startDaemon({
      stateDir: dir,
      conf: 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 1\nWORKERS = 1\n',
    });
    await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    await rpcOk(d, 'one.host.allocate', 'NAME = "node2"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    const vms = join(dir, 'vms');
    mkdirSync(vms, { recursive: true });
    for (const [i, host] of [
      [0, 'node1'],
      [1, 'node2'],
    ] as const) {
      // Random data: every chunk is compressed (at level 15: below) and written, so the backup
      // lasts seconds, not the fraction of one it takes at level 1.
      const disk = join(vms, `vm${i}.raw`);
      writeFileSync(disk, randomBytes(96 * 1024 * 1024));
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME = "vm-${i}"\nHOST = "${host}"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      );
    }
    await rpcOk(
      d,
      'one.datastore.allocate',
      'NAME = "backups"\nTYPE = "BACKUP_DS"\nCOMPRESSION_LEVEL = "15"\n',
    );
  });
  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('queues the second backup with its reason and reports both when recorded', async () => {
    const first = await runCli('onevm', ['backup', '0', '-d', '100'], d);
    assert.equal(first.code, 0, first.stderr);
    const second = runCli('onevm', ['backup', '1', '-d', '100', '--wait'], d);
    // While VM 0 backs up, VM 1's document says it waits and why (polled through the API).
    let queuedSeen = false;
    let lastDoc = '';
    const deadline = Date.now() + 60_000;
    while (!queuedSeen && Date.now() < deadline) {
      lastDoc = String(await rpcOk(d, 'one.vm.info', 1));
      queuedSeen = /<QUEUED><!\[CDATA\[global slots 1\/1\]\]><\/QUEUED>/.test(lastDoc);
      if (/<BACKUP_IDS><ID>/.test(lastDoc)) break;
      if (!queuedSeen) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(queuedSeen, `one.vm.info showed BACKUP_PROGRESS/QUEUED "global slots 1/1":\n${lastDoc}`);
    const r = await second;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /VM 1: queued: global slots 1\/1/);
    assert.match(r.stdout, /^VM 1: backup done, image \d+\n$/);
    // Both recorded, one after the other: the daemon never ran two at once.
    const starts: number[] = [];
    const ends: number[] = [];
    for (const line of d.logs().split('\n')) {
      const t = Date.parse(/time=(\S+)/.exec(line)?.[1] ?? '');
      if (/msg="backup started" vm=[01]\b/.test(line)) starts.push(t);
      if (/msg="backup done" vm=[01]\b/.test(line)) ends.push(t);
    }
    assert.equal(starts.length, 2, d.logs());
    assert.equal(ends.length, 2, d.logs());
    assert.ok(
      (starts[1] as number) >= (ends[0] as number),
      'the second backup started after the first ended',
    );
    const images = await runCli('oneimage', ['list'], d);
    assert.match(images.stdout, /vm-0|^\s*\d+/m);
  });
});
