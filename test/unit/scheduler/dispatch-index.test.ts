import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DispatchIndex } from '../../../core/scheduler/dispatch-index.js';
import { MinHeap } from '../../../core/scheduler/min-heap.js';
import { pickDispatches } from '../../../core/scheduler/pick.js';
import { insertSorted, removeSorted } from '../../../core/scheduler/sorted-array.js';
import { ids, job, NOW, vm } from './fixtures.js';

describe('DispatchIndex', () => {
  it('pick applies its dispatches: the VMs go ONGOING and hold their slots', () => {
    const index = new DispatchIndex({ maxBackups: 2, maxBackupsHost: 0 });
    index.upsertJob(job(1, 50, [vm(1, 1), vm(2, 2), vm(3, 3)]));
    assert.deepEqual(ids(index.pick(NOW)), ['1:1', '1:2']);
    assert.equal(index.runningCount, 2);
    assert.deepEqual(
      index.snapshot(NOW).jobs[0]?.vms.map((v) => v.set),
      ['ONGOING', 'ONGOING', 'OUTDATED'],
    );
    assert.deepEqual(index.pick(NOW), []);
    assert.deepEqual(
      index.explain(NOW).map((w) => w.reason),
      ['global slots 2/2'],
    );
    // A freed slot is refilled by the next pick.
    assert.equal(index.finished(2), true);
    index.setVmSet(1, 2, 'UPDATED');
    assert.deepEqual(ids(index.pick(NOW)), ['1:3']);
  });

  it('a refused start is reported with finished() and setVmSet(), and the slot goes to the next VM', () => {
    const index = new DispatchIndex({ maxBackups: 1, maxBackupsHost: 0 });
    index.upsertJob(job(1, 50, [vm(1, 1), vm(2, 1)], { sequential: true }));
    assert.deepEqual(ids(index.pick(NOW)), ['1:1']);
    index.finished(1);
    index.setVmSet(1, 1, 'ERROR');
    assert.deepEqual(ids(index.pick(NOW)), ['1:2']);
  });

  it('a retried VM waits for its time, also when time goes backwards', () => {
    const index = new DispatchIndex({ maxBackups: 0, maxBackupsHost: 0 });
    index.upsertJob(job(1, 50, [vm(1, 1, 'OUTDATED', { notBefore: NOW + 300 }), vm(2, 1)]));
    assert.deepEqual(ids(index.pick(NOW)), ['1:2']);
    assert.deepEqual(index.pick(NOW + 299), []);
    // A later retry time replaces the earlier one.
    index.setVmSet(1, 1, 'OUTDATED', NOW + 600);
    assert.deepEqual(index.pick(NOW + 300), []);
    assert.deepEqual(
      index.explain(NOW + 300).map((w) => w.reason),
      ['retry at 2026-01-05T09:10:00Z'],
    );
    assert.deepEqual(index.pick(NOW + 599), []);
    // The clock stepped back past the retry time: the VM must wait again (now is given, not read).
    index.upsertJob(job(2, 50, [vm(3, 1, 'OUTDATED', { notBefore: NOW + 100 })]));
    assert.deepEqual(ids(index.pick(NOW + 200)), ['2:3']);
    index.upsertJob(job(3, 50, [vm(4, 1, 'OUTDATED', { notBefore: NOW + 100 })]));
    assert.deepEqual(index.pick(NOW + 200 - 150), []);
    assert.deepEqual(ids(index.pick(NOW + 600)), ['1:1', '3:4']);
  });

  it('upsertJob replaces a job (priority, order), removeJob forgets it but not its running backups', () => {
    const index = new DispatchIndex({ maxBackups: 1, maxBackupsHost: 0 });
    index.upsertJob(job(1, 50, [vm(11, 1), vm(12, 1)]));
    index.upsertJob(job(2, 60, [vm(21, 2)]));
    index.upsertJob(job(1, 90, [vm(12, 1), vm(11, 1)]));
    assert.deepEqual(ids(index.pick(NOW)), ['1:12']);
    index.removeJob(1);
    assert.deepEqual(index.pick(NOW), [], 'the removed job still holds its slot');
    index.finished(12);
    assert.deepEqual(ids(index.pick(NOW)), ['2:21']);
    index.removeJob(42); // unknown: nothing to do
  });

  it('a job re-added while its backup still runs stays busy for SEQUENTIAL', () => {
    const index = new DispatchIndex({ maxBackups: 0, maxBackupsHost: 0 });
    index.upsertJob(job(1, 50, [vm(1, 1), vm(2, 1)], { sequential: true }));
    assert.deepEqual(ids(index.pick(NOW)), ['1:1']);
    index.upsertJob(job(1, 50, [vm(1, 1, 'ERROR'), vm(2, 1)], { sequential: true }));
    assert.deepEqual(index.pick(NOW), []);
    assert.deepEqual(
      index.explain(NOW).map((w) => w.reason),
      ['SEQUENTIAL: waiting for VM 1'],
    );
    index.finished(1);
    assert.deepEqual(ids(index.pick(NOW)), ['1:2']);
  });

  it('backups started by hand count, and block their own VM', () => {
    const index = new DispatchIndex({ maxBackups: 2, maxBackupsHost: 1 });
    index.started({ vmId: 2, hostId: 2 });
    index.upsertJob(job(1, 50, [vm(1, 1), vm(2, 2), vm(3, 1), vm(4, 3)]));
    assert.deepEqual(ids(index.pick(NOW)), ['1:1']);
    assert.throws(() => index.started({ vmId: 2, hostId: 2 }), /VM 2 already has a backup running/);
    assert.equal(index.finished(99), false);
    index.finished(2);
    assert.deepEqual(ids(index.pick(NOW)), ['1:2']);
  });

  it('pause, exclude, limits and policy change at any time', () => {
    const index = new DispatchIndex({ maxBackups: 1, maxBackupsHost: 0 });
    index.upsertJob(job(1, 90, [vm(11, 1), vm(12, 2)], { sequential: true }));
    index.upsertJob(job(2, 10, [vm(21, 3), vm(22, 4)]));
    index.setPaused(1, true);
    index.setExcluded(2, 21, true);
    assert.deepEqual(ids(index.pick(NOW)), ['2:22']);
    index.setPaused(1, false);
    index.setExcluded(2, 21, false);
    index.setLimits({ maxBackups: 0, maxBackupsHost: 0 });
    index.setPolicy('strict');
    assert.deepEqual(ids(index.pick(NOW)), ['1:11']);
    assert.deepEqual(
      index.explain(NOW).map((w) => `${w.vmId}: ${w.reason}`),
      ['12: SEQUENTIAL: waiting for VM 11', '21: priority: job 1 (90) first'],
    );
    index.setPolicy('backfill');
    assert.deepEqual(ids(index.pick(NOW)), ['2:21']);
  });

  it('rejects what it cannot address', () => {
    const index = new DispatchIndex({ maxBackups: 0, maxBackupsHost: 0 });
    assert.throws(
      () => index.upsertJob(job(1, 50, [vm(1, 1), vm(1, 2)])),
      /backup job 1: VM 1 is listed twice/,
    );
    assert.throws(() => index.setPaused(7, true), /no backup job 7/);
    index.upsertJob(job(1, 50, [vm(1, 1)]));
    assert.throws(() => index.setVmSet(1, 5, 'UPDATED'), /backup job 1 has no VM 5/);
  });

  it('answers as pickDispatches on its snapshot', () => {
    const index = new DispatchIndex({ maxBackups: 4, maxBackupsHost: 1 });
    index.upsertJob(job(1, 50, [vm(1, 1), vm(2, 1), vm(3, 2)], { sequential: true }));
    index.upsertJob(job(2, 50, [vm(4, 2), vm(5, 3)], { since: NOW - 7200 }));
    index.upsertJob(job(3, 20, [vm(6, 4), vm(7, 4)]));
    const expected = pickDispatches(index.snapshot(NOW));
    assert.deepEqual(ids(expected), ['2:4', '2:5', '1:1', '3:6']);
    assert.deepEqual(index.pick(NOW), expected);
  });
});

describe('MinHeap and sorted arrays', () => {
  it('the heap pops in key order', () => {
    const heap = new MinHeap<string>();
    const keys = [5, 3, 9, 1, 7, 3, 8, 2];
    for (const k of keys) heap.push(k, `v${k}`);
    assert.equal(heap.size, 8);
    assert.equal(heap.peekKey(), 1);
    const out: string[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    assert.deepEqual(out, ['v1', 'v2', 'v3', 'v3', 'v5', 'v7', 'v8', 'v9']);
    assert.equal(heap.peekKey(), undefined);
  });

  it('sorted arrays keep order, equal keys in insertion order, and remove by identity', () => {
    const cmp = (a: { k: number }, b: { k: number }) => a.k - b.k;
    const items = [{ k: 3 }, { k: 1 }, { k: 2 }, { k: 2 }, { k: 5 }];
    const arr: { k: number }[] = [];
    for (const it of items) insertSorted(arr, it, cmp);
    assert.deepEqual(
      arr.map((x) => x.k),
      [1, 2, 2, 3, 5],
    );
    assert.equal(arr[1], items[2]);
    assert.equal(removeSorted(arr, items[3] as { k: number }, cmp), true);
    assert.equal(arr[1], items[2]);
    assert.equal(removeSorted(arr, { k: 2 }, cmp), false);
    assert.deepEqual(
      arr.map((x) => x.k),
      [1, 2, 3, 5],
    );
  });
});
