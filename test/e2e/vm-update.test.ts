/**
 * `onevm update` and `onevm updateconf` with the real daemon and CLI (issue 14): replace and
 * append (-a) as OpenNebula's, STATE settable on fs hosts only, restricted attributes kept from
 * users, attributes that belong elsewhere refused naming the command, and BACKUP_CONFIG through
 * updateconf taking effect on the next backup (KEEP_LAST).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcOk } from '../support/rpc.js';

describe('onevm update / updateconf', () => {
  let d: RunningDaemon;
  let dir: string;
  const alice = ['--user', 'alice', '--password', 'alice-password-1'];
  const doc = async (vm: number) => String(await rpcOk(d, 'one.vm.info', vm));
  const userTemplate = async (vm: number) =>
    /<USER_TEMPLATE>(.*)<\/USER_TEMPLATE>/.exec(await doc(vm))?.[1] ?? '';
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(async () => {
    dir = tempDir();
    // No host monitor: it would find kvm1's domain gone and power vm-1 off by itself.
    d = await startDaemon({
      stateDir: dir,
      conf: 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nMONITORING_INTERVAL_HOST = 0\n',
    });
    await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    await rpcOk(d, 'one.host.allocate', 'NAME = "kvm1"\nTRANSPORT = "local"\nVM_MAD = "kvm"\n');
    for (const [i, host] of [
      [0, 'node1'],
      [1, 'kvm1'],
    ] as const) {
      const disk = join(dir, `vm${i}.raw`);
      makeDisk(disk, 'raw', '4M');
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME = "vm-${i}"\nHOST = "${host}"\nDEPLOY_ID = "dom-${i}"\nDISK = [ SOURCE = "${disk}" ]\n`,
      );
    }
    await rpcOk(d, 'one.datastore.allocate', `NAME = "b"\nBASE_PATH = "${join(dir, 'ds')}"\n`);
    const uid = Number(await rpcOk(d, 'one.user.allocate', 'alice', 'alice-password-1', 'core', []));
    await rpcOk(d, 'one.vm.chown', 0, uid, -1);
  });
  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('replaces, appends and sets STATE on an fs host', async () => {
    assert.match(await doc(0), /<STATE>3<\/STATE>/, 'registered RUNNING (ACTIVE)');
    const r = await runCli(
      'onevm',
      ['update', 'vm-0', file('a.tmpl', 'LABELS = "web"\nSTATE = "POWEROFF"\n'), '-v'],
      d,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'VM 0: template updated\n');
    assert.match(await doc(0), /<STATE>8<\/STATE>/);
    assert.match(await userTemplate(0), /<LABELS><!\[CDATA\[web\]\]><\/LABELS>/);
    // Replace: what is not given goes, except DEPLOY_ID (restricted: kept unless given).
    assert.equal((await runCli('onevm', ['update', '0', file('b.tmpl', 'NOTE = "n"\n')], d)).code, 0);
    let t = await userTemplate(0);
    assert.doesNotMatch(t, /LABELS/);
    assert.match(t, /<NOTE><!\[CDATA\[n\]\]><\/NOTE>/);
    assert.match(t, /<DEPLOY_ID><!\[CDATA\[dom-0\]\]><\/DEPLOY_ID>/);
    // Append from standard input: merged, same names replaced.
    const a = await runCli('onevm', ['update', '0', '-a'], d, { input: 'NOTE = "m"\nOWNER_TEAM = "ops"\n' });
    assert.equal(a.code, 0, a.stderr);
    t = await userTemplate(0);
    assert.match(t, /<NOTE><!\[CDATA\[m\]\]><\/NOTE>/);
    assert.match(t, /<OWNER_TEAM><!\[CDATA\[ops\]\]><\/OWNER_TEAM>/);
    assert.equal((t.match(/<NOTE>/g) ?? []).length, 1);
    const back = await runCli('onevm', ['update', '0', '-a'], d, { input: 'STATE = "RUNNING"\n' });
    assert.equal(back.code, 0, back.stderr);
    assert.match(await doc(0), /<STATE>3<\/STATE>/);
  });

  it('refuses STATE on a kvm host, bad values, and attributes other commands change', async () => {
    const kvm = await runCli('onevm', ['update', '1', '-a'], d, { input: 'STATE = "POWEROFF"\n' });
    assert.equal(kvm.code, 255);
    assert.match(kvm.stderr, /STATE of VM 1 is what its kvm host reports \(onehost sync 1\)/);
    assert.match(await doc(1), /<STATE>3<\/STATE>/);
    const bad = await runCli('onevm', ['update', '0', '-a'], d, {
      input: 'STATE = "OFF"\nNAME = "x"\nBACKUP_CONFIG = [ MODE = "FULL" ]\n',
    });
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /STATE="OFF" is not one of RUNNING, POWEROFF/);
    assert.match(bad.stderr, /NAME is not changed with onevm update; use onevm rename 0 <name>/);
    assert.match(bad.stderr, /BACKUP_CONFIG is not changed with onevm update; use onevm updateconf 0/);
  });

  it("lets the VM's owner change her attributes but not where the daemon finds the VM", async () => {
    const own = await runCli('onevm', ['update', '0', '-a', ...alice], d, { input: 'LABELS = "mine"\n' });
    assert.equal(own.code, 0, own.stderr);
    assert.match(await userTemplate(0), /<LABELS><!\[CDATA\[mine\]\]><\/LABELS>/);
    const before = await userTemplate(0);
    for (const attr of ['QMP_SOCKET = "/run/other.qmp"', 'DEPLOY_ID = "someone-else"']) {
      const r = await runCli('onevm', ['update', '0', '-a', ...alice], d, { input: `${attr}\n` });
      assert.equal(r.code, 255, attr);
      assert.match(r.stderr, /Tried to change restricted attribute: (QMP_SOCKET|DEPLOY_ID)/);
    }
    assert.equal(await userTemplate(0), before, 'a refused update changed nothing');
    const theirs = await runCli('onevm', ['update', '1', '-a', ...alice], d, { input: 'LABELS = "x"\n' });
    assert.equal(theirs.code, 255);
    assert.match(theirs.stderr, /Not authorized to perform MANAGE VM \[1\]/);
  });

  it('updateconf sets BACKUP_CONFIG (replace or -a) and the next backup follows it', async () => {
    const conf = (vm: number) =>
      doc(vm).then((x) => /<BACKUP_CONFIG>(.*)<\/BACKUP_CONFIG>/.exec(x)?.[1] ?? '');
    let r = await runCli('onevm', ['updateconf', '0'], d, {
      input: 'BACKUP_CONFIG = [ MODE = "FULL", KEEP_LAST = "1", FS_FREEZE = "NONE" ]\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      await conf(0),
      /^<FS_FREEZE><!\[CDATA\[NONE\]\]><\/FS_FREEZE><KEEP_LAST><!\[CDATA\[1\]\]><\/KEEP_LAST><MODE><!\[CDATA\[FULL\]\]><\/MODE>$/,
    );
    r = await runCli('onevm', ['updateconf', '0', '-a'], d, {
      input: 'BACKUP_CONFIG = [ FS_FREEZE = "AGENT" ]\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(await conf(0), /^<FS_FREEZE><!\[CDATA\[AGENT\]\]><\/FS_FREEZE><KEEP_LAST><!\[CDATA\[1\]\]>/);
    r = await runCli('onevm', ['updateconf', '0'], d, {
      input: 'BACKUP_CONFIG = [ MODE = "FULL", KEEP_LAST = "1" ]\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(await conf(0), /FS_FREEZE/, 'a replace drops what it does not give');
    const other = await runCli('onevm', ['updateconf', '0'], d, {
      input: 'OS = [ ARCH = "x86_64" ]\nLABELS = "a"\n',
    });
    assert.equal(other.code, 255);
    assert.match(other.stderr, /OS: onebackup runs no VM/);
    assert.match(other.stderr, /LABELS: user attributes are changed with onevm update 0/);
    // KEEP_LAST = 1 with FULL backups: two backups leave one image.
    await rpcOk(d, 'one.vm.update', 0, 'STATE = "POWEROFF"', 1);
    for (let i = 0; i < 2; i++) {
      const b = await runCli('onevm', ['backup', '0', '-d', '100', '--wait'], d);
      assert.equal(b.code, 0, b.stderr);
    }
    const ids = /<BACKUP_IDS>(.*)<\/BACKUP_IDS>/.exec(await doc(0))?.[1] ?? '';
    assert.equal((ids.match(/<ID>/g) ?? []).length, 1, ids);
  });
});
