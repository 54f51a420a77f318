import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainWaiting, pickDispatches } from '../../../core/scheduler/pick.js';
import { retryAt } from '../../../core/scheduler/reasons.js';
import type { DispatchState, Waiting } from '../../../core/scheduler/types.js';
import { ids, job, NOW, state, vm } from './fixtures.js';

/** The reasons as "vm: reason", in rank order. */
function reasons(s: DispatchState): string[] {
  return explainWaiting(s).map((w) => `${w.vmId}: ${w.reason}`);
}

describe('pickDispatches: order', () => {
  it('higher priority first, then the job outdated earliest, then the lower job ID', () => {
    const s = state(
      [
        job(1, 50, [vm(11, 1)], { since: NOW - 100 }),
        job(2, 80, [vm(21, 1)], { since: NOW - 10 }),
        job(3, 50, [vm(31, 1)], { since: NOW - 200 }),
        job(4, 50, [vm(41, 1)], { since: NOW - 100 }),
      ],
      0,
      0,
    );
    assert.deepEqual(ids(pickDispatches(s)), ['2:21', '3:31', '1:11', '4:41']);
  });

  it('tie-break by outdated time, not by ID (SPEC 4.4: OpenNebula takes the lower ID)', () => {
    const s = state(
      [job(3, 50, [vm(31, 1)], { since: NOW - 10 }), job(7, 50, [vm(71, 2)], { since: NOW - 900 })],
      1,
      0,
    );
    assert.deepEqual(ids(pickDispatches(s)), ['7:71']);
    assert.deepEqual(reasons(s), ['31: global slots 1/1']);
  });

  it('BACKUP_VMS order inside a job, whatever the VM IDs', () => {
    const s = state([job(1, 50, [vm(30, 1), vm(10, 2), vm(20, 3)])], 2, 0);
    assert.deepEqual(ids(pickDispatches(s)), ['1:30', '1:10']);
    assert.deepEqual(explainWaiting(s), [{ jobId: 1, vmId: 20, rank: 3, reason: 'global slots 2/2' }]);
  });

  it('only OUTDATED VMs are candidates', () => {
    const s = state(
      [job(1, 50, [vm(1, 1, 'UPDATED'), vm(2, 1, 'ERROR'), vm(3, 1, 'ONGOING'), vm(4, 1)])],
      0,
      0,
    );
    assert.deepEqual(ids(pickDispatches(s)), ['1:4']);
    assert.deepEqual(explainWaiting(s), []);
  });

  it('nothing to do gives nothing', () => {
    assert.deepEqual(pickDispatches(state([], 5, 2)), []);
    assert.deepEqual(explainWaiting(state([], 5, 2)), []);
  });
});

describe('pickDispatches: slot limits', () => {
  it('MAX_BACKUPS caps the total, counting backups already running, also those started by hand', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 2), vm(3, 3)])], 3, 0, [{ vmId: 99, hostId: 4 }]);
    assert.deepEqual(ids(pickDispatches(s)), ['1:1', '1:2']);
    assert.deepEqual(reasons(s), ['3: global slots 3/3']);
  });

  it('MAX_BACKUPS_HOST caps each host, counting backups already running there', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 1), vm(3, 1), vm(4, 2)])], 0, 2, [{ vmId: 99, hostId: 1 }]);
    assert.deepEqual(ids(pickDispatches(s)), ['1:1', '1:4']);
    assert.deepEqual(reasons(s), ['2: host node1 2/2', '3: host node1 2/2']);
  });

  it('0 means unlimited for both limits', () => {
    const vms = Array.from({ length: 50 }, (_, i) => vm(i + 1, 1));
    assert.equal(pickDispatches(state([job(1, 50, vms)], 0, 0)).length, 50);
  });

  it('a full host skips to the VMs on other hosts (SPEC 4.4: OpenNebula stops the job there)', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 1), vm(3, 2), vm(4, 1), vm(5, 3)])], 0, 1);
    assert.deepEqual(ids(pickDispatches(s)), ['1:1', '1:3', '1:5']);
    assert.deepEqual(reasons(s), ['2: host node1 1/1', '4: host node1 1/1']);
  });

  it('a running count above a lowered limit is reported as it is', () => {
    const running = [1, 2, 3].map((n) => ({ vmId: 90 + n, hostId: 1 }));
    const s = state([job(1, 50, [vm(1, 1)])], 2, 2, running);
    assert.deepEqual(pickDispatches(s), []);
    assert.deepEqual(reasons(s), ['1: host node1 3/2']);
  });

  it('the host limit is reported before the global one', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 1), vm(3, 2)])], 1, 1);
    assert.deepEqual(ids(pickDispatches(s)), ['1:1']);
    assert.deepEqual(reasons(s), ['2: host node1 1/1', '3: global slots 1/1']);
  });
});

describe('pickDispatches: SEQUENTIAL and PARALLEL', () => {
  it('SEQUENTIAL starts one VM; the others wait for it', () => {
    const s = state([job(1, 50, [vm(12, 1), vm(13, 2), vm(14, 3)], { sequential: true })], 5, 2);
    assert.deepEqual(ids(pickDispatches(s)), ['1:12']);
    assert.deepEqual(reasons(s), ['13: SEQUENTIAL: waiting for VM 12', '14: SEQUENTIAL: waiting for VM 12']);
  });

  it('SEQUENTIAL counts a VM already ONGOING, or running for the job after leaving ONGOING', () => {
    const ongoing = state(
      [job(1, 50, [vm(12, 1, 'UPDATED'), vm(13, 1, 'ONGOING'), vm(14, 2)], { sequential: true })],
      5,
      2,
      [{ vmId: 13, hostId: 1, jobId: 1 }],
    );
    assert.deepEqual(pickDispatches(ongoing), []);
    assert.deepEqual(reasons(ongoing), ['14: SEQUENTIAL: waiting for VM 13']);
    // Cancelled: the VM left the sets, but its backup still runs for the job.
    const cancelled = state([job(1, 50, [vm(12, 1, 'ERROR'), vm(14, 2)], { sequential: true })], 5, 2, [
      { vmId: 12, hostId: 1, jobId: 1 },
    ]);
    assert.deepEqual(pickDispatches(cancelled), []);
    assert.deepEqual(reasons(cancelled), ['14: SEQUENTIAL: waiting for VM 12']);
  });

  it('SEQUENTIAL whose next VM is on a full host starts a later VM instead (backfill)', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 2)], { sequential: true })], 5, 1, [
      { vmId: 99, hostId: 1 },
    ]);
    assert.deepEqual(ids(pickDispatches(s)), ['1:2']);
    assert.deepEqual(reasons(s), ['1: SEQUENTIAL: waiting for VM 2']);
  });

  it('PARALLEL takes every free slot', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 2), vm(3, 3)]), job(2, 50, [vm(4, 4)])], 3, 0);
    assert.deepEqual(ids(pickDispatches(s)), ['1:1', '1:2', '1:3']);
  });
});

describe('pickDispatches: backfill and strict', () => {
  // SPEC 4.3: "While a priority-90 SEQUENTIAL job still has OUTDATED VMs, a priority-50 job gets
  // nothing, even with 4 of 5 slots idle."
  const jobs = [
    job(1, 90, [vm(11, 1), vm(12, 2), vm(13, 3)], { sequential: true }),
    job(2, 50, [vm(21, 4), vm(22, 5), vm(23, 6), vm(24, 7), vm(25, 8)]),
  ];

  it('backfill (default): the free slots go to the lower-priority job', () => {
    const s = state(jobs, 5, 2);
    assert.deepEqual(ids(pickDispatches(s)), ['1:11', '2:21', '2:22', '2:23', '2:24']);
    assert.deepEqual(reasons(s), [
      '12: SEQUENTIAL: waiting for VM 11',
      '13: SEQUENTIAL: waiting for VM 11',
      '25: priority: job 1 (90) first',
    ]);
    assert.deepEqual(ids(pickDispatches({ ...s, policy: 'backfill' })), ids(pickDispatches(s)));
  });

  it("strict: OpenNebula's rule, the lower job waits until the higher has no OUTDATED VM", () => {
    const s = state(jobs, 5, 2, [], 'strict');
    assert.deepEqual(ids(pickDispatches(s)), ['1:11']);
    assert.deepEqual(reasons(s), [
      '12: SEQUENTIAL: waiting for VM 11',
      '13: SEQUENTIAL: waiting for VM 11',
      '21: priority: job 1 (90) first',
      '22: priority: job 1 (90) first',
      '23: priority: job 1 (90) first',
      '24: priority: job 1 (90) first',
      '25: priority: job 1 (90) first',
    ]);
  });

  it('strict: once the higher job has no OUTDATED VM left, lower jobs start in the same pass', () => {
    const s = state([job(1, 90, [vm(11, 1), vm(12, 2)]), job(2, 50, [vm(21, 3)])], 5, 0, [], 'strict');
    assert.deepEqual(ids(pickDispatches(s)), ['1:11', '1:12', '2:21']);
  });

  it('strict: jobs of the same priority share, paused jobs and excluded VMs hold nobody back', () => {
    const s = state(
      [
        job(1, 90, [vm(11, 1)], { paused: true }),
        job(2, 80, [vm(21, 2, 'OUTDATED', { excluded: true }), vm(22, 2, 'UPDATED')]),
        job(3, 50, [vm(31, 3)], { sequential: true }),
        job(4, 50, [vm(41, 4)]),
      ],
      5,
      2,
      [],
      'strict',
    );
    assert.deepEqual(ids(pickDispatches(s)), ['3:31', '4:41']);
    assert.deepEqual(reasons(s), ['11: paused', '21: excluded']);
  });

  it('strict: a VM waiting for its retry still holds lower jobs back, as an OUTDATED VM does in OpenNebula', () => {
    const s = state(
      [job(1, 90, [vm(11, 1, 'OUTDATED', { notBefore: NOW + 60 })]), job(2, 50, [vm(21, 2)])],
      5,
      2,
      [],
      'strict',
    );
    assert.deepEqual(pickDispatches(s), []);
    assert.deepEqual(reasons(s), [`11: ${retryAt(NOW + 60)}`, '21: priority: job 1 (90) first']);
  });

  it('backfill: a lower-priority VM never takes a slot a higher one could use', () => {
    const s = state([job(1, 20, [vm(11, 1), vm(12, 2)]), job(2, 70, [vm(21, 1), vm(22, 3)])], 3, 1);
    assert.deepEqual(ids(pickDispatches(s)), ['2:21', '2:22', '1:12']);
    assert.deepEqual(reasons(s), ['11: priority: job 2 (70) first']);
  });

  it('backfill: the priority reason names the higher-priority job that took a slot in this pass', () => {
    const s = state(
      [job(4, 80, [vm(41, 1)]), job(5, 60, [vm(51, 2)], { since: NOW - 7200 }), job(6, 60, [vm(61, 3)])],
      2,
      0,
      [{ vmId: 99, hostId: 9 }],
    );
    assert.deepEqual(ids(pickDispatches(s)), ['4:41']);
    assert.deepEqual(reasons(s), ['51: priority: job 4 (80) first', '61: priority: job 4 (80) first']);
    // Once that backup is running, the limit itself is the reason.
    const after = state(s.jobs.slice(1), 2, 0, [...s.running, { vmId: 41, hostId: 1, jobId: 4 }]);
    assert.deepEqual(reasons(after), ['51: global slots 2/2', '61: global slots 2/2']);
  });

  it('backfill: a slot taken by a job of the same priority gives the limit, not priority', () => {
    const s = state(
      [job(1, 50, [vm(11, 1)], { since: NOW - 100 }), job(2, 50, [vm(21, 2)], { since: NOW - 10 })],
      1,
      0,
    );
    assert.deepEqual(reasons(s), ['21: global slots 1/1']);
  });
});

describe('explainWaiting: the other reasons and the rank', () => {
  it('paused, excluded, retry time, a backup in progress on the VM itself', () => {
    const s = state(
      [
        job(1, 50, [vm(11, 1)], { paused: true }),
        job(2, 40, [
          vm(21, 1, 'OUTDATED', { excluded: true }),
          vm(22, 1, 'OUTDATED', { notBefore: NOW + 300 }),
          vm(23, 1),
          vm(24, 1, 'OUTDATED', { notBefore: NOW }),
        ]),
      ],
      5,
      5,
      [{ vmId: 23, hostId: 1 }],
    );
    assert.deepEqual(ids(pickDispatches(s)), ['2:24']);
    assert.deepEqual(explainWaiting(s), [
      { jobId: 1, vmId: 11, rank: 1, reason: 'paused' },
      { jobId: 2, vmId: 21, rank: 2, reason: 'excluded' },
      { jobId: 2, vmId: 22, rank: 3, reason: 'retry at 2026-01-05T09:05:00Z' },
      { jobId: 2, vmId: 23, rank: 4, reason: 'VM 23 has a backup in progress' },
    ] satisfies Waiting[]);
  });

  it('a VM whose retry time has come is a candidate again', () => {
    const s = state([job(1, 50, [vm(1, 1, 'OUTDATED', { notBefore: NOW + 1 })])], 5, 2);
    assert.deepEqual(pickDispatches(s), []);
    assert.deepEqual(ids(pickDispatches({ ...s, now: NOW + 1 })), ['1:1']);
  });

  it('ranks count every OUTDATED VM in the global order, the picked ones too', () => {
    const s = state(
      [
        job(2, 50, [vm(21, 1), vm(22, 1, 'UPDATED'), vm(23, 2)]),
        job(1, 90, [vm(11, 1), vm(12, 1)], { sequential: true }),
      ],
      2,
      0,
    );
    assert.deepEqual(ids(pickDispatches(s)), ['1:11', '2:21']);
    assert.deepEqual(explainWaiting(s), [
      { jobId: 1, vmId: 12, rank: 2, reason: 'SEQUENTIAL: waiting for VM 11' },
      { jobId: 2, vmId: 23, rank: 4, reason: 'priority: job 1 (90) first' },
    ] satisfies Waiting[]);
  });

  it('a pure function: same state, same answer, input untouched', () => {
    const s = state([job(1, 50, [vm(1, 1), vm(2, 1)]), job(2, 60, [vm(3, 2)])], 2, 1);
    const copy = structuredClone(s);
    assert.deepEqual(pickDispatches(s), pickDispatches(s));
    assert.deepEqual(explainWaiting(s), explainWaiting(s));
    assert.deepEqual(s, copy);
  });
});
