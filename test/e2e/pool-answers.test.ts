/**
 * Pool answers of a real daemon, which keeps each pool element rendered while its object stays the
 * same (core/api/element-cache.ts): a change shows in the very next answer (a VM renamed, a backup
 * recorded, a VM gone from its host), answered twice in a row the pool is the same, the image and
 * host pools are their objects' own documents one after the other, and two users who may see
 * different VMs get different answers, changed at once by chmod and chown.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupVm } from '../support/backups.js';
import { cleanup, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcAs, rpcOk } from '../support/rpc.js';

const ALICE = 'alice:alice-password-1';
const BOB = 'bob:bob-password-1';

describe('pool answers from kept elements', () => {
  let d: RunningDaemon;
  let dir: string;
  const vms: number[] = [];
  let ds = -1;

  const vmPool = async (session?: string): Promise<string> => {
    if (session === undefined) return String(await rpcOk(d, 'one.vmpool.info', -2, -1, -1, -1));
    const [ok, body] = await rpcAs(d, session, 'one.vmpool.info', -2, -1, -1, -1);
    assert.equal(ok, true, String(body));
    return String(body);
  };
  const vmIds = (xml: string) => [...xml.matchAll(/<VM><ID>(\d+)</g)].map((m) => Number(m[1]));
  /** The pool, checked to be its objects' own documents (`<kind>.info`) one after the other. */
  const checkedPool = async (kind: 'image' | 'host', root: string, args: number[]): Promise<string> => {
    const pool = String(await rpcOk(d, `one.${kind}pool.info`, ...args));
    const ids = [...pool.matchAll(new RegExp(`<${root}><ID>(\\d+)<`, 'g'))].map((m) => Number(m[1]));
    let whole = `<${root}_POOL>`;
    for (const id of ids) whole += String(await rpcOk(d, `one.${kind}.info`, id));
    assert.equal(pool, `${whole}</${root}_POOL>`);
    return pool;
  };

  before(async () => {
    dir = tempDir();
    d = await startDaemon({
      stateDir: dir,
      conf: 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nMONITORING_INTERVAL_HOST = 0\n',
    });
    await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    ds = Number(await rpcOk(d, 'one.datastore.allocate', `NAME = "b"\nBASE_PATH = "${join(dir, 'ds')}"\n`));
    for (let i = 0; i < 3; i++) {
      const disk = join(dir, `vm${i}.raw`);
      makeDisk(disk, 'raw', '4M');
      vms.push(
        Number(
          await rpcOk(
            d,
            'one.vm.allocate',
            `NAME = "vm-${i}"\nHOST = "node1"\nSTATE = "POWEROFF"\nLABELS = "a<b&c"\nDISK = [ SOURCE = "${disk}" ]\n`,
          ),
        ),
      );
    }
    const alice = Number(await rpcOk(d, 'one.user.allocate', 'alice', 'alice-password-1', 'core', []));
    const bob = Number(await rpcOk(d, 'one.user.allocate', 'bob', 'bob-password-1', 'core', []));
    await rpcOk(d, 'one.vm.chown', vms[1] as number, alice, -1);
    await rpcOk(d, 'one.vm.chown', vms[2] as number, bob, -1);
  });
  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('shows a VM renamed in the very next answer', async () => {
    const first = await vmPool();
    assert.equal(await vmPool(), first, 'the same pool, answered again');
    assert.match(first, /<NAME>vm-0<\/NAME>/);
    await rpcOk(d, 'one.vm.rename', vms[0] as number, 'renamed-0');
    const next = await vmPool();
    assert.match(next, /<NAME>renamed-0<\/NAME>/);
    assert.doesNotMatch(next, /<NAME>vm-0<\/NAME>/);
    assert.match(next, /<LABELS>a&lt;b&amp;c<\/LABELS>/);
  });

  it('shows a backup recorded in the next image pool, which is the images’ own documents', async () => {
    assert.equal(await checkedPool('image', 'IMAGE', [-2, -1, -1]), '<IMAGE_POOL></IMAGE_POOL>');
    const image = await backupVm(d, vms[0] as number, ds);
    const one = await checkedPool('image', 'IMAGE', [-2, -1, -1]);
    assert.match(one, new RegExp(`<IMAGE><ID>${image}</ID>`));
    assert.equal(await checkedPool('image', 'IMAGE', [-2, -1, -1]), one);
    // The next backup of the VM: another image or increment, in the next answer.
    await backupVm(d, vms[0] as number, ds);
    const two = await checkedPool('image', 'IMAGE', [-2, -1, -1]);
    assert.notEqual(two, one);
  });

  it('shows a VM deleted in the next host pool, which is the hosts’ own documents', async () => {
    const before = await checkedPool('host', 'HOST', []);
    assert.match(before, new RegExp(`<VMS><ID>${vms[0]}</ID><ID>${vms[1]}</ID><ID>${vms[2]}</ID></VMS>`));
    const disk = join(dir, 'tmp.raw');
    makeDisk(disk, 'raw', '4M');
    const tmp = Number(
      await rpcOk(d, 'one.vm.allocate', `NAME = "tmp"\nHOST = "node1"\nDISK = [ SOURCE = "${disk}" ]\n`),
    );
    assert.match(await checkedPool('host', 'HOST', []), new RegExp(`<ID>${tmp}</ID></VMS>`));
    await rpcOk(d, 'one.vm.delete', tmp);
    assert.equal(await checkedPool('host', 'HOST', []), before);
  });

  it('answers each user the VMs that user may see, changed at once by chmod and chown', async () => {
    assert.deepEqual(vmIds(await vmPool(ALICE)), [vms[1]]);
    assert.deepEqual(vmIds(await vmPool(BOB)), [vms[2]]);
    assert.notEqual(await vmPool(ALICE), await vmPool(BOB));
    // Bob's VM usable by its group (users, alice's too).
    await rpcOk(d, 'one.vm.chmod', vms[2] as number, 1, 1, 0, 1, 0, 0, 0, 0, 0);
    assert.deepEqual(vmIds(await vmPool(ALICE)), [vms[2], vms[1]]);
    // Alice's VM given to oneadmin's group and user: hers no more.
    await rpcOk(d, 'one.vm.chown', vms[1] as number, 0, 0);
    assert.deepEqual(vmIds(await vmPool(ALICE)), [vms[2]]);
    assert.deepEqual(vmIds(await vmPool(BOB)), [vms[2]]);
    assert.ok(vmIds(await vmPool()).includes(vms[1] as number));
  });
});
