/**
 * KEEP_LAST retention (issue 10, problem 1) on a real SQLite store: it counts and drops only the
 * images of that VM in that datastore (and that chain), never an image the backup's owner may not
 * MANAGE, and never the VM's newest image that verified good. Verify results per image: broken
 * images are ERROR with the reason, whole ones READY again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { ONEADMIN_GID, ONEADMIN_UID } from '../../core/model.js';
import type { Requester } from '../../core/permissions.js';
import type { ServiceDeps } from '../../core/services/context.js';
import { DatastoreService } from '../../core/services/datastores.js';
import { HostService } from '../../core/services/hosts.js';
import { UserService } from '../../core/services/users.js';
import { VmService } from '../../core/services/vms.js';
import { type FinishedBackup, type RetentionOwner, recordBackup } from '../../core/store/backups.js';
import type { Store } from '../../core/store/db.js';
import { findImage, recordVerifyResults } from '../../core/store/images.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { ManualClock } from '../support/manual-clock.js';
import { testServiceDeps } from '../support/service-deps.js';
import { openTestStore } from '../support/store.js';

const admin: Requester = {
  uid: ONEADMIN_UID,
  gid: ONEADMIN_GID,
  uname: 'oneadmin',
  gname: 'oneadmin',
  isAdmin: true,
};
const opened: { store: Store; dir: string }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.store.close();
    cleanup(o.dir);
  }
});

/** VM 0 (owned by oneadmin), datastores 100 and 101; user alice (uid 2) with her own datastore 102. */
async function world(): Promise<{ store: Store; alice: RetentionOwner }> {
  const dir = tempDir();
  const store = await openTestStore(join(dir, 'state.db'));
  opened.push({ store, dir });
  const deps: ServiceDeps = testServiceDeps(store, new ManualClock(Date.UTC(2026, 0, 5)), dir);
  const users = new UserService(deps);
  await users.bootstrap();
  await users.allocate(admin, 'alice', 'secret-pass', []);
  await new HostService(deps).allocate(admin, 'NAME="node1"\nTRANSPORT="local"\n');
  for (const name of ['a', 'b', 'c'])
    await new DatastoreService(deps).allocate(admin, `NAME="${name}"\nTYPE="BACKUP_DS"\n`);
  await new VmService(deps).allocate(admin, 'NAME="vm0"\nHOST="node1"\nDISK=[SOURCE="/d/0"]\n');
  return { store, alice: { uid: 2, gid: 1, isAdmin: false } };
}

let seq = 0;
function backup(
  datastoreId: number,
  owner: RetentionOwner,
  more: Partial<FinishedBackup> = {},
): FinishedBackup {
  seq += 1;
  return {
    vmId: 0,
    datastoreId,
    source: `0/${seq}.json`,
    sizeBytes: 1 << 20,
    format: 'raw',
    stats: '{}',
    imageName: `0 backup ${seq}`,
    nowS: 1_767_571_200 + seq,
    reset: false,
    mode: 'FULL',
    owner,
    ...more,
  };
}

async function images(store: Store): Promise<{ id: number; ds: number }[]> {
  const rows = await store.db.selectFrom('images').select(['id', 'datastore_id']).orderBy('id').execute();
  return rows.map((r) => ({ id: r.id, ds: r.datastore_id }));
}

describe('KEEP_LAST retention', () => {
  it('drops only the images of that VM in that datastore', async () => {
    const { store } = await world();
    await store.tx((t) => recordBackup(t, backup(100, admin)));
    await store.tx((t) => recordBackup(t, backup(101, admin)));
    await store.tx((t) => recordBackup(t, backup(101, admin)));
    const r = await store.tx((t) => recordBackup(t, backup(100, admin, { keepLast: 1 })));
    assert.deepEqual(await images(store), [
      { id: 1, ds: 101 },
      { id: 2, ds: 101 },
      { id: 3, ds: 100 },
    ]);
    assert.deepEqual(r.dropped, ['0/1.json']);
  });

  it("never drops an image the backup's owner may not MANAGE", async () => {
    const { store, alice } = await world();
    // oneadmin's backups of the VM (mode 600, owner oneadmin), then alice's job backs up into the same datastore.
    await store.tx((t) => recordBackup(t, backup(102, admin)));
    await store.tx((t) => recordBackup(t, backup(102, alice)));
    const r = await store.tx((t) => recordBackup(t, backup(102, alice, { keepLast: 1 })));
    const left = await images(store);
    assert.ok(
      left.some((i) => i.id === 0),
      "oneadmin's image is kept: alice may not MANAGE it",
    );
    assert.equal(r.dropped.length, 0, 'images are owned by the VM owner, so alice may drop none');
  });

  it("never drops the VM's newest image that verified good", async () => {
    const { store } = await world();
    await store.tx((t) => recordBackup(t, backup(100, admin))); // image 0
    await store.tx((t) => recordBackup(t, backup(100, admin))); // image 1
    await store.tx((t) =>
      recordVerifyResults(t, [0, 1], new Map([[1, 'chunk x: GCM authentication failed']]), 100, 'then'),
    );
    const r = await store.tx((t) => recordBackup(t, backup(100, admin, { keepLast: 1 }))); // image 2
    assert.deepEqual(
      (await images(store)).map((i) => i.id),
      [0, 2],
      'the broken image 1 went, the last good image 0 stays',
    );
    assert.equal(r.dropped.length, 1);
    // Once a newer image verifies good, the old one is no longer the last good one.
    await store.tx((t) => recordVerifyResults(t, [2], new Map(), 200, 'now'));
    await store.tx((t) => recordBackup(t, backup(100, admin, { keepLast: 1 })));
    assert.deepEqual(
      (await images(store)).map((i) => i.id),
      [2, 3],
    );
  });

  it('in INCREMENT mode drops only increments of the chain, in its datastore', async () => {
    const { store } = await world();
    await store.tx((t) => recordBackup(t, backup(101, admin)));
    for (let i = 0; i < 3; i++)
      await store.tx((t) => recordBackup(t, backup(100, admin, { mode: 'INCREMENT' })));
    await store.tx((t) => recordBackup(t, backup(100, admin, { mode: 'INCREMENT', keepLast: 2 })));
    const incs = await store.db
      .selectFrom('image_increments')
      .select(['image_id', 'inc_id', 'type'])
      .orderBy('image_id')
      .orderBy('inc_id')
      .execute();
    assert.deepEqual(incs, [
      { image_id: 0, inc_id: 0, type: 'FULL' },
      { image_id: 1, inc_id: 2, type: 'FULL' },
      { image_id: 1, inc_id: 3, type: 'INCREMENT' },
    ]);
  });
});

describe('verify results per image', () => {
  it('a broken image is ERROR with the reason; verified whole again, it is READY with no ERROR', async () => {
    const { store } = await world();
    await store.tx((t) => recordBackup(t, backup(100, admin)));
    await store.tx((t) =>
      recordVerifyResults(t, [0], new Map([[0, 'increment 0 disk 0: chunk ab: missing']]), 50, 'Mon Jan 5'),
    );
    const broken = await findImage(store.db, 0);
    assert.equal(broken?.state, 5);
    assert.equal(broken?.verified_at, 0);
    assert.match(broken?.template ?? '', /Mon Jan 5 : \[verify\] increment 0 disk 0: chunk ab: missing/);
    await store.tx((t) => recordVerifyResults(t, [0], new Map(), 60, 'Tue Jan 6'));
    const fixed = await findImage(store.db, 0);
    assert.equal(fixed?.state, 1);
    assert.equal(fixed?.verified_at, 60);
    assert.doesNotMatch(fixed?.template ?? '', /ERROR/);
  });
});
