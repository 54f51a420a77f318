/**
 * A live VM on a kvm host reached over SSH: a real guest (test/support/guest.ts) under a bare
 * QEMU whose QMP socket lives on the host (a real sshd on 127.0.0.7 stands for it). The point in
 * time, the NBD export and the dirty bitmaps stay on the host, driven by its agent; the bytes
 * cross the SSH connection. FULL then a CBT increment while the guest writes, into an encrypted
 * datastore: each restores to one instant; the increment reads only what changed; both manifests
 * record host digests (the CBT increment carries the previous ones for the chunks it did not
 * read), so a later fallback without changed blocks compares on the host; the host's monitor
 * reports the VM's state.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, tempDir } from '../support/daemon.js';
import { manifestFiles } from '../support/datastore-faults.js';
import { type Guest, guestUnavailable, startGuest } from '../support/guest.js';
import {
  backupLive,
  incrementsOf,
  restoredInstants,
  startLiveWorld,
  xmlField,
} from '../support/live-backups.js';
import { rpcOk } from '../support/rpc.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
const BLOCKS = 256;
const skip = guestUnavailable();

let d: RunningDaemon;
let work: string;
let host: TestSshd;
let guest: Guest | undefined;
let guestDir: string | undefined;

describe('a live VM on a kvm host reached over SSH', { skip }, () => {
  before(async () => {
    work = tempDir('onebackup-kvm-ssh-');
    mkdirSync(join(work, 'host'));
    host = await startSshd(join(work, 'host'), '127.0.0.7');
    d = await startLiveWorld(undefined, { encrypted: true });
    await rpcOk(d, 'one.host.allocate', host.hostTemplate('kvm'));
  });
  after(async () => {
    await guest?.stop();
    if (guestDir) cleanup(guestDir);
    await d?.stop();
    await host?.stop();
    if (d) cleanup(d.stateDir);
    cleanup(work);
  });

  it('FULL then a CBT increment through the host agent, the guest writing throughout, each restores to one instant', async () => {
    const raw = join(work, 'initial.raw');
    const initial = Buffer.alloc(64 * MiB);
    initial.fill(0x5a, 40 * MiB, 41 * MiB);
    writeFileSync(raw, initial);
    const disk = join(work, 'host', 'live.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
    guestDir = tempDir('onebackup-guest-run-');
    guest = await startGuest({ dir: guestDir, disk, format: 'qcow2', blocks: BLOCKS, delayUs: 3000 });
    // No DISK: the host's agent asks QEMU (query-block) for it.
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME="remote-live"\nHOST="${host.host}"\nQMP_SOCKET="${guest.qmpSocket}"\nBACKUP_CONFIG=[MODE="INCREMENT"]\n`,
      ),
    );
    const shown = await runCli('onevm', ['show', String(vm), '-x'], d);
    assert.ok(shown.stdout.includes(disk), `the disk as the host's QEMU has it: ${shown.stdout}`);
    assert.match(shown.stdout, /<STATE>3<\/STATE>/, "RUNNING, as the host's QEMU says");
    const image = await backupLive(d, vm);
    await guest.waitSeq(guest.seq() + 200);
    assert.equal(await backupLive(d, vm), image);
    const incs = await incrementsOf(d, image);
    assert.equal(incs.length, 2);
    assert.equal(xmlField(incs[1] as string, 'TYPE'), 'INCREMENT');
    assert.equal(xmlField(incs[1] as string, 'FULL_READ'), undefined, incs[1]);
    assert.ok(
      Number(xmlField(incs[1] as string, 'BYTES_READ')) < (64 * MiB) / 2,
      'the increment read only changes',
    );
    const seen = await restoredInstants(d, work, image, 2, { initial, blocks: BLOCKS, stride: guest.stride });
    assert.ok(
      (seen[0] as number) > 0 && (seen[0] as number) < (seen[1] as number),
      `instants in order: ${seen}`,
    );
    await guest.waitSeq((seen[1] as number) + 50);
    const shownDs = await runCli('onedatastore', ['show', '100', '-x'], d);
    const base = /<BASE_PATH><!\[CDATA\[(.*?)\]\]>|<BASE_PATH>(.*?)<\/BASE_PATH>/.exec(shownDs.stdout);
    const manifests = manifestFiles((base?.[1] ?? base?.[2]) as string).map((f) => readFileSync(f, 'utf8'));
    assert.equal(manifests.length, 2);
    for (const m of manifests) {
      assert.match(m, /"encrypted": true/);
      assert.match(m, /"hostDigests"/, 'the FULL and the CBT increment record host digests');
    }
    assert.match(host.log(), /Accepted publickey/, "the host's agent logged in over SSH");
  });
});
