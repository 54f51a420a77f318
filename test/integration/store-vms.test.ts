/**
 * The VM, image and outcome transitions of core/store on a real SQLite file: a VM and its disks
 * registered and deleted, its BACKUP_CONFIG read and written typed, its ERROR attribute set and
 * cleared; an image deleted with its increments; the increments a datastore's GC and verify walk;
 * outcomes that keep the last success; the health probe rolled back.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../core/store/db.js';
import {
  deleteImage,
  incrementsOfImages,
  incrementsOnDatastore,
  isBackupDatastore,
} from '../../core/store/images.js';
import { lastOutcomes, recordOutcome, writeHealthProbe } from '../../core/store/outcomes.js';
import { vmBackupSummaries } from '../../core/store/state-reads.js';
import {
  deleteVm,
  disksOfVm,
  findVm,
  findVmHostByRef,
  firstHostId,
  insertVm,
  listVms,
  type NewVm,
  setVmBackupConfig,
  setVmError,
} from '../../core/store/vms.js';
import { decodeAttributes, getSingle } from '../../core/template/attributes.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { openTestStore } from '../support/store.js';

const OWNED = {
  uid: 0,
  gid: 0,
  permissions: 0o600,
  lock_level: 0,
  lock_owner: -1,
  lock_time: 0,
  lock_req_id: -1,
};

const VM: NewVm = {
  name: 'web',
  ownership: OWNED,
  template: [{ kind: 'single', name: 'DESCRIPTION', value: 'front' }],
  hostId: 3,
  state: 'RUNNING',
  stime: 1_700_000_000,
  backupConfig: { mode: 'INCREMENT', keepLast: 2 },
  disks: [
    { diskId: 0, source: '/d/a.qcow2', format: 'qcow2', sizeBytes: 1024 },
    { diskId: 1, source: '/d/b.raw', format: 'raw', sizeBytes: 2048 },
  ],
};

describe('store: VMs, images and outcomes', () => {
  let dir: string;
  let store: Store;

  before(async () => {
    dir = tempDir();
    store = await openTestStore(join(dir, 'state.db'));
    await store.db
      .insertInto('hosts')
      .values([
        { id: 3, name: 'node3', template: '[]', ...OWNED, vm_mad: 'fs' },
        { id: 1, name: 'node1', template: '[]', ...OWNED, vm_mad: 'fs' },
      ])
      .execute();
  });

  after(async () => {
    await store.close();
    cleanup(dir);
  });

  it('registers a VM with its disks and typed BACKUP_CONFIG, and deletes it with them', async () => {
    const id = await store.tx((trx) => insertVm(trx, VM));
    const second = await store.tx((trx) => insertVm(trx, { ...VM, name: 'db', disks: [] }));
    assert.equal(second, id + 1);
    const vm = await findVm(store.db, id);
    assert.equal(vm?.name, 'web');
    assert.equal(vm?.backup_job_id, -1);
    assert.deepEqual(vm?.backupConfig, { mode: 'INCREMENT', keepLast: 2 });
    assert.deepEqual(
      (await disksOfVm(store.db, id)).map((d) => [d.disk_id, d.source, d.format, d.size_bytes]),
      [
        [0, '/d/a.qcow2', 'qcow2', 1024],
        [1, '/d/b.raw', 'raw', 2048],
      ],
    );
    assert.deepEqual(
      (await listVms(store.db)).map((v) => v.id),
      [second, id],
    );
    await store.tx((trx) => deleteVm(trx, id));
    assert.equal(await findVm(store.db, id), undefined);
    assert.deepEqual(await disksOfVm(store.db, id), []);
    await store.tx((trx) => deleteVm(trx, second));
  });

  it('writes BACKUP_CONFIG with OpenNebula names and reads it back typed', async () => {
    const id = await store.tx((trx) => insertVm(trx, VM));
    try {
      await store.tx((trx) =>
        setVmBackupConfig(trx, id, {
          mode: 'FULL',
          keepLast: 0,
          lastBackupTime: 1_700_000_100,
          lastIncrementId: -1,
          incrementalBackupId: -1,
        }),
      );
      const raw = await store.db
        .selectFrom('vms')
        .select('backup_config')
        .where('id', '=', id)
        .executeTakeFirst();
      assert.deepEqual(JSON.parse(raw?.backup_config ?? ''), {
        MODE: 'FULL',
        KEEP_LAST: '0',
        LAST_INCREMENT_ID: '-1',
        INCREMENTAL_BACKUP_ID: '-1',
        LAST_BACKUP_TIME: '1700000100',
      });
      const [summary] = (await vmBackupSummaries(store.db)).filter((v) => v.id === id);
      assert.equal(summary?.backupConfig.lastBackupTime, 1_700_000_100);
    } finally {
      await store.tx((trx) => deleteVm(trx, id));
    }
  });

  it('sets and clears the ERROR attribute, keeping the rest of the template', async () => {
    const id = await store.tx((trx) => insertVm(trx, VM));
    try {
      await store.tx((trx) => setVmError(trx, id, 'Mon Jan  1 00:00:00 2024 : [backup] boom'));
      const failed = await findVm(store.db, id);
      assert.equal(
        getSingle(decodeAttributes(failed?.template ?? '[]'), 'ERROR'),
        'Mon Jan  1 00:00:00 2024 : [backup] boom',
      );
      await store.tx((trx) => setVmError(trx, id, undefined));
      const cleared = await findVm(store.db, id);
      assert.equal(cleared?.template, JSON.stringify([{ n: 'DESCRIPTION', v: 'front' }]));
      // A VM that is gone is left alone.
      await store.tx((trx) => setVmError(trx, 9999, 'x'));
    } finally {
      await store.tx((trx) => deleteVm(trx, id));
    }
  });

  it('finds the host a VM names by ID or name, and the first host', async () => {
    assert.equal((await findVmHostByRef(store.db, '3'))?.name, 'node3');
    assert.equal((await findVmHostByRef(store.db, 'node1'))?.id, 1);
    assert.equal(await findVmHostByRef(store.db, 'nope'), undefined);
    assert.equal(await firstHostId(store.db), 1);
  });

  it('deletes an image with its increments and lists what a datastore references', async () => {
    await store.db
      .insertInto('datastores')
      .values([
        { id: 100, name: 'bk', template: '[]', ...OWNED, type: 'BACKUP_DS', ds_mad: 'local' },
        { id: 101, name: 'img', template: '[]', ...OWNED, type: 'IMAGE_DS', ds_mad: 'local' },
      ])
      .execute();
    const image = (id: number, datastoreId: number) => ({
      id,
      name: `img${id}`,
      template: '[]',
      ...OWNED,
      type: 'BACKUP',
      datastore_id: datastoreId,
      vm_id: 0,
      backup_job_id: -1,
      source: '',
      size_mb: 1,
      format: 'raw',
      regtime: 0,
      state: 1,
      verified_at: 0,
    });
    await store.db
      .insertInto('images')
      .values([image(1, 100), image(2, 100), image(3, 101)])
      .execute();
    const inc = (imageId: number, incId: number) => ({
      image_id: imageId,
      inc_id: incId,
      type: 'FULL' as const,
      parent_id: incId - 1,
      source: `m/${imageId}.${incId}`,
      size_mb: 1,
      date: 0,
      stats: '{}',
    });
    await store.db
      .insertInto('image_increments')
      .values([inc(2, 1), inc(2, 0), inc(1, 0), inc(3, 0)])
      .execute();

    assert.equal(await isBackupDatastore(store.db, 100), true);
    assert.equal(await isBackupDatastore(store.db, 101), false);
    assert.deepEqual(
      (await incrementsOnDatastore(store.db, 100)).map((i) => i.source),
      ['m/1.0', 'm/2.0', 'm/2.1'],
    );
    assert.deepEqual(await incrementsOnDatastore(store.db, 100, { imageId: 2, incrementId: 1 }), [
      { imageId: 2, incrementId: 1, source: 'm/2.1' },
    ]);
    assert.deepEqual(
      (await incrementsOfImages(store.db, [2])).map((i) => i.inc_id),
      [0, 1],
    );

    const deleted = await store.tx((trx) => deleteImage(trx, 2));
    assert.deepEqual(
      { ...deleted, sources: deleted.sources.sort() },
      {
        datastoreId: 100,
        sources: ['m/2.0', 'm/2.1'],
      },
    );
    assert.deepEqual(await incrementsOfImages(store.db, [2]), []);
    assert.deepEqual(
      (await incrementsOnDatastore(store.db, 100)).map((i) => i.source),
      ['m/1.0'],
    );
    await assert.rejects(store.tx((trx) => deleteImage(trx, 2)));
  });

  it('records outcomes, a failure keeping the time of the last success', async () => {
    await store.tx((trx) => recordOutcome(trx, 'ds_gc', 100, true, 1000));
    await store.tx((trx) => recordOutcome(trx, 'ds_gc', 100, false, 2000));
    await store.tx((trx) => recordOutcome(trx, 'vm_backup', 7, false, 3000));
    const rows = (await lastOutcomes(store.db)).sort((a, b) => a.time_ms - b.time_ms);
    assert.deepEqual(rows, [
      { kind: 'ds_gc', object_id: 100, ok: 0, time_ms: 2000, last_ok_ms: 1000 },
      { kind: 'vm_backup', object_id: 7, ok: 0, time_ms: 3000, last_ok_ms: 0 },
    ]);
  });

  it('writes the health probe only inside the transaction that rolls it back', async () => {
    class RollBack extends Error {}
    await assert.rejects(
      store.tx(async (trx) => {
        await writeHealthProbe(trx, 5000);
        assert.ok((await lastOutcomes(trx)).some((o) => o.kind === 'health_probe'));
        throw new RollBack();
      }),
      RollBack,
    );
    assert.ok(!(await lastOutcomes(store.db)).some((o) => o.kind === 'health_probe'));
  });
});
