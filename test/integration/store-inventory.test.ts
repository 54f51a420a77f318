import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  deleteDatastore,
  findDatastoreIdByName,
  imageIdsByDatastore,
  imageIdsInDatastore,
  insertDatastore,
  jobIdsUsingDatastore,
  listDatastores,
  takeDatastoreId,
} from '../../core/store/datastores.js';
import type { Store } from '../../core/store/db.js';
import { findGroup, findGroupByName, insertGroup, listGroups } from '../../core/store/groups.js';
import {
  deleteHost,
  findHostIdByName,
  insertHost,
  listHosts,
  vmIdsOnHost,
  vmsByHost,
} from '../../core/store/hosts.js';
import {
  clearOwnedLock,
  findOwned,
  findOwnedNameClash,
  newObjectOwnership,
  ownerNameMaps,
  setOwnedLock,
  setOwnedName,
  setOwnedOwner,
  setOwnedPermissions,
} from '../../core/store/owned.js';
import {
  deleteUser,
  findUser,
  findUserByName,
  groupMemberIds,
  insertBootstrapAccounts,
  insertUser,
  listUsers,
  setUserPasswordHash,
} from '../../core/store/users.js';
import { encodeAttributes, single } from '../../core/template/attributes.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { openTestStore } from '../support/store.js';

const admin = { uid: 0, gid: 0 };

/** A fresh migrated store in its own temp dir, with oneadmin, groups oneadmin and users. */
async function freshStore(): Promise<{ store: Store; dir: string }> {
  const dir = tempDir();
  const store = await openTestStore(join(dir, 'state.db'));
  await store.tx((trx) => insertBootstrapAccounts(trx, 'hash0'));
  return { store, dir };
}

async function addVm(store: Store, id: number, hostId: number): Promise<void> {
  await store.db
    .insertInto('vms')
    .values({
      id,
      name: `vm-${id}`,
      ...newObjectOwnership(admin),
      template: '[]',
      host_id: hostId,
      state: 'RUNNING',
      backup_job_id: -1,
      stime: 0,
      backup_config: '{}',
    })
    .execute();
}

async function addImage(store: Store, id: number, datastoreId: number): Promise<void> {
  await store.db
    .insertInto('images')
    .values({
      id,
      name: `img-${id}`,
      ...newObjectOwnership(admin),
      template: '[]',
      type: 'BACKUP',
      datastore_id: datastoreId,
      vm_id: 0,
      backup_job_id: -1,
      source: '',
      size_mb: 0,
      format: 'raw',
      regtime: 0,
      state: 1,
      verified_at: 0,
    })
    .execute();
}

describe('store: users and groups', () => {
  let store: Store;
  let dir: string;
  before(async () => {
    ({ store, dir } = await freshStore());
  });
  after(async () => {
    await store.close();
    cleanup(dir);
  });

  it('bootstraps oneadmin in group oneadmin; new users count from 2, new groups from 100', async () => {
    assert.deepEqual(await findUser(store.db, 0), {
      id: 0,
      name: 'oneadmin',
      gid: 0,
      password_hash: 'hash0',
      enabled: 1,
      template: '[]',
    });
    assert.deepEqual(
      (await listGroups(store.db)).map((g) => [g.id, g.name]),
      [
        [0, 'oneadmin'],
        [1, 'users'],
      ],
    );
    const alice = await store.tx((trx) => insertUser(trx, 'alice', 1, 'hashA'));
    const bob = await store.tx((trx) => insertUser(trx, 'bob', 1, 'hashB'));
    assert.deepEqual([alice, bob], [2, 3]);
    const g = await store.tx((trx) => insertGroup(trx, 'ops'));
    assert.equal(g, 100);
    assert.equal((await findGroupByName(store.db, 'ops'))?.id, 100);
    assert.equal((await findGroup(store.db, 100))?.name, 'ops');
    assert.equal(await findGroup(store.db, 101), undefined);
  });

  it('finds users by name, lists all or one, and lists a group’s members in order', async () => {
    assert.equal((await findUserByName(store.db, 'alice'))?.id, 2);
    assert.equal(await findUserByName(store.db, 'nobody'), undefined);
    assert.deepEqual(
      (await listUsers(store.db)).map((u) => u.id),
      [0, 2, 3],
    );
    assert.deepEqual(
      (await listUsers(store.db, 3)).map((u) => u.name),
      ['bob'],
    );
    assert.deepEqual(
      (await listGroups(store.db, 1)).map((g) => g.name),
      ['users'],
    );
    assert.deepEqual(await groupMemberIds(store.db, 1), [2, 3]);
    assert.deepEqual(await groupMemberIds(store.db, 100), []);
  });

  it('changes a password hash and deletes a user, saying whether the user existed', async () => {
    assert.equal(await store.tx((trx) => setUserPasswordHash(trx, 2, 'hashA2')), true);
    assert.equal((await findUser(store.db, 2))?.password_hash, 'hashA2');
    assert.equal(await store.tx((trx) => setUserPasswordHash(trx, 99, 'x')), false);
    assert.equal(await store.tx((trx) => deleteUser(trx, 3)), true);
    assert.equal(await store.tx((trx) => deleteUser(trx, 3)), false);
    assert.equal(await findUser(store.db, 3), undefined);
  });
});

describe('store: hosts and owned-object writes', () => {
  let store: Store;
  let dir: string;
  before(async () => {
    ({ store, dir } = await freshStore());
    await store.tx((trx) => insertUser(trx, 'alice', 1, 'h'));
  });
  after(async () => {
    await store.close();
    cleanup(dir);
  });

  it('inserts hosts from ID 0 with default ownership, finds them by name, and lists their VMs', async () => {
    const template = encodeAttributes([single('CPU', '4')]);
    const a = await store.tx((trx) =>
      insertHost(trx, { name: 'node1', owner: admin, template, vmMad: 'fs' }),
    );
    const b = await store.tx((trx) =>
      insertHost(trx, { name: 'node2', owner: admin, template: '[]', vmMad: 'kvm' }),
    );
    assert.deepEqual([a, b], [0, 1]);
    assert.equal(await findHostIdByName(store.db, 'node2'), 1);
    assert.equal(await findHostIdByName(store.db, 'node3'), undefined);
    const [first] = await listHosts(store.db);
    assert.deepEqual(first, {
      id: 0,
      name: 'node1',
      ...newObjectOwnership(admin),
      template,
      vm_mad: 'fs',
    });
    await addVm(store, 5, 0);
    await addVm(store, 3, 0);
    await addVm(store, 4, 1);
    assert.deepEqual(await vmIdsOnHost(store.db, 0), [3, 5]);
    assert.deepEqual(
      [...(await vmsByHost(store.db)).entries()],
      [
        [
          0,
          [
            { id: 3, state: 'RUNNING' },
            { id: 5, state: 'RUNNING' },
          ],
        ],
        [1, [{ id: 4, state: 'RUNNING' }]],
      ],
    );
  });

  it('loads an owned row, and writes permissions, owner, lock, unlock and name', async () => {
    assert.equal(await findOwned(store.db, 'hosts', 42), undefined);
    await store.tx(async (trx) => {
      await setOwnedPermissions(trx, 'hosts', 1, 0o777);
      await setOwnedOwner(trx, 'hosts', 1, 2, 1);
      await setOwnedLock(trx, 'hosts', 1, { level: 3, owner: 2, time: 1700, reqId: 0 });
    });
    assert.deepEqual(await findOwned(store.db, 'hosts', 1), {
      id: 1,
      name: 'node2',
      uid: 2,
      gid: 1,
      permissions: 0o777,
      lock_level: 3,
      lock_owner: 2,
      lock_time: 1700,
      lock_req_id: 0,
      template: '[]',
      vm_mad: 'kvm',
    });
    await store.tx(async (trx) => {
      await clearOwnedLock(trx, 'hosts', 1);
      await setOwnedName(trx, 'hosts', 1, 'node9');
    });
    const row = await findOwned(store.db, 'hosts', 1);
    assert.deepEqual(row && [row.name, row.lock_level, row.lock_owner, row.lock_time, row.lock_req_id], [
      'node9',
      0,
      -1,
      0,
      0,
    ]);
  });

  it('finds a name clash among all rows, or among one owner’s rows', async () => {
    assert.equal(await findOwnedNameClash(store.db, 'hosts', 'node1', 1), 0);
    assert.equal(await findOwnedNameClash(store.db, 'hosts', 'node1', 0), undefined);
    assert.equal(await findOwnedNameClash(store.db, 'hosts', 'node1', 1, 2), undefined);
    assert.equal(await findOwnedNameClash(store.db, 'vms', 'vm-3', 4, 0), 3);
    assert.equal(await findOwnedNameClash(store.db, 'vms', 'vm-3', 4, 2), undefined);
  });

  it('maps user and group IDs to names', async () => {
    const { users, groups } = await ownerNameMaps(store.db);
    assert.deepEqual(
      [...users.entries()].sort(([a], [b]) => a - b),
      [
        [0, 'oneadmin'],
        [2, 'alice'],
      ],
    );
    assert.deepEqual(
      [...groups.entries()].sort(([a], [b]) => a - b),
      [
        [0, 'oneadmin'],
        [1, 'users'],
      ],
    );
  });

  it('deletes a host', async () => {
    await store.tx(async (trx) => {
      await trx.deleteFrom('vms').where('host_id', '=', 1).execute();
      await deleteHost(trx, 1);
    });
    assert.deepEqual(
      (await listHosts(store.db)).map((h) => h.id),
      [0],
    );
  });
});

describe('store: datastores', () => {
  let store: Store;
  let dir: string;
  before(async () => {
    ({ store, dir } = await freshStore());
  });
  after(async () => {
    await store.close();
    cleanup(dir);
  });

  it('takes IDs from 100; an ID taken in a rolled-back transaction is taken again', async () => {
    await assert.rejects(
      store.tx(async (trx) => {
        assert.equal(await takeDatastoreId(trx), 100);
        throw new Error('key creation failed');
      }),
      /key creation failed/,
    );
    const id = await store.tx(async (trx) => {
      const taken = await takeDatastoreId(trx);
      await insertDatastore(trx, {
        id: taken,
        name: 'backups',
        owner: admin,
        template: '[]',
        type: 'BACKUP_DS',
        dsMad: 'local',
      });
      return taken;
    });
    assert.equal(id, 100);
    assert.equal(await findDatastoreIdByName(store.db, 'backups'), 100);
    assert.equal(await findDatastoreIdByName(store.db, 'offsite'), undefined);
    assert.deepEqual(await listDatastores(store.db), [
      {
        id: 100,
        name: 'backups',
        ...newObjectOwnership(admin),
        template: '[]',
        type: 'BACKUP_DS',
        ds_mad: 'local',
      },
    ]);
  });

  it('lists the images each datastore holds and the jobs that name it', async () => {
    await store.tx(async (trx) => {
      await insertDatastore(trx, {
        id: await takeDatastoreId(trx),
        name: 'offsite',
        owner: admin,
        template: '[]',
        type: 'BACKUP_DS',
        dsMad: 'local',
      });
    });
    await addImage(store, 7, 100);
    await addImage(store, 2, 100);
    await addImage(store, 4, 101);
    assert.deepEqual([...(await imageIdsInDatastore(store.db, 100))].sort(), [2, 7]);
    assert.deepEqual(
      [...(await imageIdsByDatastore(store.db)).entries()],
      [
        [100, [2, 7]],
        [101, [4]],
      ],
    );
    for (const [id, ds] of [
      [0, '101'],
      [1, '100'],
      [2, '101'],
    ] as const) {
      await store.db
        .insertInto('backup_jobs')
        .values({
          id,
          name: `job${id}`,
          ...newObjectOwnership(admin),
          template: encodeAttributes([single('DATASTORE_ID', ds)]),
          priority: 50,
          last_backup_time: 0,
          last_backup_duration: 0,
          outdated_since: 0,
          paused: 0,
        })
        .execute();
    }
    assert.deepEqual(await jobIdsUsingDatastore(store.db, 101), [0, 2]);
    assert.deepEqual(await jobIdsUsingDatastore(store.db, 102), []);
  });

  it('deletes a datastore', async () => {
    await store.tx((trx) => deleteDatastore(trx, 101));
    assert.deepEqual(
      (await listDatastores(store.db)).map((d) => d.id),
      [100],
    );
  });
});
