/**
 * Pool answers built from kept elements (core/api/element-cache.ts) on a real store: byte for
 * byte the response the whole document rendered and escaped gives, on the first call (every
 * element rendered), the next (every element kept) and after each change to a VM, its disks, its
 * host, its owner's name or its permissions (only what changed rendered again); each change shows
 * in the very next answer; two callers who may see different VMs get different answers.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ElementCache } from '../../core/api/element-cache.js';
import { decodeMethodResponse, encodeMethodResponseBytes } from '../../core/api/xmlrpc.js';
import { escapeStringToBytes } from '../../core/api/xmlrpc-value.js';
import * as docs from '../../core/docs/index.js';
import type { Requester } from '../../core/permissions.js';
import type { HostView } from '../../core/services/hosts.js';
import { HostService } from '../../core/services/hosts.js';
import { VmService } from '../../core/services/vms.js';
import type { Store } from '../../core/store/db.js';
import { insertHost } from '../../core/store/hosts.js';
import { setOwnedLock, setOwnedName, setOwnedOwner, setOwnedPermissions } from '../../core/store/owned.js';
import { insertBootstrapAccounts, insertUser } from '../../core/store/users.js';
import { insertVm, updateVmTemplate } from '../../core/store/vms.js';
import { encodeAttributes } from '../../core/template/attributes.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { ManualClock } from '../support/manual-clock.js';
import { testServiceDeps } from '../support/service-deps.js';
import { openTestStore } from '../support/store.js';

const ADMIN: Requester = { uid: 0, gid: 0, uname: 'oneadmin', gname: 'oneadmin', isAdmin: true };
const ALL = { filter: -2, start: -1, end: -1 };

describe('pool answers from kept elements', () => {
  let dir: string;
  let store: Store;
  let vms: VmService;
  let hosts: HostService;
  let alice: Requester;
  let bob: Requester;
  const ids: number[] = [];
  const cache = new ElementCache();

  /** The answer as the daemon sends it, and as the whole document rendered would be. */
  async function vmPoolAnswers(who: Requester): Promise<{ kept: Buffer; whole: Buffer }> {
    const views = await vms.pool(who, ALL);
    return {
      kept: encodeMethodResponseBytes([true, cache.escaped(docs.vmPool(views)), 0]),
      whole: encodeMethodResponseBytes([true, docs.vmPoolXml(views), 0]),
    };
  }

  /** The caller's answer, checked equal to the whole document's; returns the document it carries. */
  async function checkedVmPool(who: Requester = ADMIN): Promise<string> {
    const { kept, whole } = await vmPoolAnswers(who);
    assert.ok(kept.equals(whole), `kept:\n${kept.toString()}\nwhole:\n${whole.toString()}`);
    const decoded = decodeMethodResponse(kept.toString('utf8'));
    assert.ok('value' in decoded && Array.isArray(decoded.value));
    return String(decoded.value[1]);
  }

  /** Misses (elements rendered) during `f`. */
  async function rendered(f: () => Promise<unknown>): Promise<number> {
    const before = cache.stats.misses;
    await f();
    return cache.stats.misses - before;
  }

  before(async () => {
    dir = tempDir();
    store = await openTestStore(join(dir, 'state.db'));
    const deps = testServiceDeps(store, new ManualClock(1_700_000_000_000), dir);
    vms = new VmService(deps);
    hosts = new HostService(deps);
    await store.tx(async (trx) => {
      await insertBootstrapAccounts(trx, 'hash0');
      const aliceUid = await insertUser(trx, 'alice', 1, 'hash1');
      const bobUid = await insertUser(trx, 'bob', 1, 'hash2');
      alice = { uid: aliceUid, gid: 1, uname: 'alice', gname: 'users', isAdmin: false };
      bob = { uid: bobUid, gid: 1, uname: 'bob', gname: 'users', isAdmin: false };
      const hostId = await insertHost(trx, {
        name: 'node1',
        owner: { uid: 0, gid: 0 },
        template: encodeAttributes([{ kind: 'single', name: 'TRANSPORT', value: 'local' }]),
        vmMad: 'fs',
      });
      // Text XML-RPC must escape, CDATA ends, CR, multi-byte and a control character.
      const labels = ['a<b>&c', 'x]]>y\r\nz', 'é€😀', 'bad\u0001char'];
      for (const [i, owner] of [0, alice.uid, bob.uid, 0].entries()) {
        ids.push(
          await insertVm(trx, {
            name: `vm-${i}`,
            ownership: {
              uid: owner,
              gid: owner === 0 ? 0 : 1,
              permissions: 0o600,
              lock_level: 0,
              lock_owner: -1,
              lock_time: 0,
              lock_req_id: -1,
            },
            template: [
              { kind: 'single', name: 'LABELS', value: labels[i] as string },
              { kind: 'vector', name: 'NIC', values: new Map([['IP', `10.0.0.${i}`]]) },
            ],
            hostId,
            state: i % 2 === 0 ? 'RUNNING' : 'POWEROFF',
            stime: 1_700_000_000 + i,
            backupConfig: { keepLast: 2 },
            disks: [{ diskId: 0, source: `/d/vm${i}.raw`, format: 'raw', sizeBytes: (i + 1) << 20 }],
          }),
        );
      }
    });
  });
  after(async () => {
    await store?.close();
    cleanup(dir);
  });

  it('answers the whole document’s bytes, rendering each element once while it stays the same', async () => {
    assert.equal(await rendered(checkedVmPool), 4, 'the first answer renders every element');
    assert.equal(await rendered(checkedVmPool), 0, 'the next one keeps them all');
    // Each piece escaped alone is the whole escaped: escaping works character by character.
    const views = await vms.pool(ADMIN, ALL);
    assert.ok(
      Buffer.concat(cache.escaped(docs.vmPool(views)).pieces).equals(
        escapeStringToBytes(docs.vmPoolXml(views)),
      ),
    );
  });

  it('shows each committed change in the next answer, rendering only what changed', async () => {
    const changes: [string, () => Promise<unknown>, RegExp][] = [
      ['renamed', () => store.tx((t) => setOwnedName(t, 'vms', ids[0] as number, 'renamed-0')), /renamed-0/],
      [
        'template',
        () =>
          store.tx((t) =>
            updateVmTemplate(
              t,
              ids[3] as number,
              [{ kind: 'single', name: 'LABELS', value: 'new-label' }],
              undefined,
            ),
          ),
        /new-label/,
      ],
      [
        'locked',
        () =>
          store.tx((t) =>
            setOwnedLock(t, 'vms', ids[2] as number, { level: 3, owner: 0, time: 5, reqId: 7 }),
          ),
        /<LOCKED>3<\/LOCKED>/,
      ],
      [
        'disk resized',
        () =>
          store.db
            .updateTable('vm_disks')
            .set({ size_bytes: 9 << 20 })
            .where('vm_id', '=', ids[2] as number)
            .execute(),
        /<SIZE>9<\/SIZE>/,
      ],
      [
        'user renamed',
        () => store.db.updateTable('users').set({ name: 'alice2' }).where('id', '=', alice.uid).execute(),
        /<UNAME>alice2<\/UNAME>/,
      ],
    ];
    let previous = await checkedVmPool();
    for (const [what, change, shows] of changes) {
      await change();
      let answer = '';
      const n = await rendered(async () => {
        answer = await checkedVmPool();
      });
      assert.notEqual(answer, previous, `${what}: the answer changed`);
      assert.match(answer, shows, what);
      assert.equal(n, 1, `${what}: one element rendered again`);
      previous = answer;
    }
    // A host renamed changes every VM on it.
    await store.db.updateTable('hosts').set({ name: 'node-one' }).execute();
    let answer = '';
    const n = await rendered(async () => {
      answer = await checkedVmPool();
    });
    assert.equal(n, 4);
    assert.match(answer, /<HOSTNAME>node-one<\/HOSTNAME>/);
  });

  it('answers each caller what that caller may see', async () => {
    const idsIn = (xml: string) => [...xml.matchAll(/<VM><ID>(\d+)</g)].map((m) => Number(m[1]));
    const ofAlice = await checkedVmPool(alice);
    const ofBob = await checkedVmPool(bob);
    assert.deepEqual(idsIn(ofAlice), [ids[1]]);
    assert.deepEqual(idsIn(ofBob), [ids[2]]);
    assert.notEqual(ofAlice, ofBob);
    // Bob's VM made usable by his group (alice's too): she sees it in her next answer.
    await store.tx((t) => setOwnedPermissions(t, 'vms', ids[2] as number, 0o640));
    assert.deepEqual(idsIn(await checkedVmPool(alice)), [ids[2], ids[1]]);
    assert.deepEqual(idsIn(await checkedVmPool(bob)), [ids[2]]);
    // Alice's VM given to bob (0600: not his group's to use): hers no more, his now.
    await store.tx((t) => setOwnedOwner(t, 'vms', ids[1] as number, bob.uid, 1));
    assert.deepEqual(idsIn(await checkedVmPool(alice)), [ids[2]]);
    assert.deepEqual(idsIn(await checkedVmPool(bob)), [ids[2], ids[1]]);
    assert.ok(
      (await checkedVmPool(bob)).includes(
        `<ID>${ids[1]}</ID><UID>${bob.uid}</UID><GID>1</GID><UNAME>bob</UNAME>`,
      ),
    );
  });

  it('keeps a host element while the host and its running backups stay the same', async () => {
    const views = await hosts.pool(ADMIN);
    const answer = (running: number) => {
      const activity = (_: HostView) => ({ backupsRunning: running });
      const kept = encodeMethodResponseBytes([true, cache.escaped(docs.hostPool(views, activity)), 0]);
      assert.ok(kept.equals(encodeMethodResponseBytes([true, docs.hostPoolXml(views, activity), 0])));
      return kept.toString('utf8');
    };
    const idle = answer(0);
    assert.equal(await rendered(async () => answer(0)), 0);
    assert.match(answer(2), /RUNNING_BACKUPS&gt;&lt;!\[CDATA\[2\]/);
    assert.notEqual(answer(2), idle);
  });
});
