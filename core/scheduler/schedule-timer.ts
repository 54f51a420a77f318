/**
 * Fires due scheduled actions (SCHED_ACTION) of backup jobs: each due schedule opens a run of its
 * job in the same transaction that moves the schedule to its next time, so a crash never fires
 * one twice or loses one. Passes never overlap: a change during a pass runs one more pass after
 * it. Every job fired in a pass is dispatched together (by priority), then the timer is armed for
 * the next schedule (at most an hour ahead, so a clock change is noticed).
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RunTrigger } from '../model.js';
import { afterRun, isDue, isFinished } from '../schedule/next-time.js';
import type { Store, Tx } from '../store/db.js';
import { findJob } from '../store/jobs.js';
import {
  allJobSchedules,
  findSchedule,
  markScheduleFired,
  schedRowToFields,
  setScheduleMessage,
} from '../store/schedules.js';
import type { BackupJobTable } from '../store/schema.js';
import { CoalescedPass } from './coalesced-pass.js';
import { failureMessage } from './failure.js';

export interface ScheduleTimerDeps {
  /** Among several daemons, only the leader runs these passes (absent: always). */
  readonly leading?: () => boolean;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timeZone: string;
  readonly ctime: (epochS: number) => string;
  /** Starts a run of the job; throws when a run is pending. */
  readonly execute: (trx: Tx, job: BackupJobTable, trigger: RunTrigger) => Promise<void>;
  /** A job's schedule fired (its run is committed). */
  readonly fired: (jobId: number) => void;
  /** The pass is over: dispatch what fired. */
  readonly passed: () => void;
}

const SCHEDULE_RECHECK_MS = 60 * 60 * 1000;

export class ScheduleTimer {
  readonly #deps: ScheduleTimerDeps;
  readonly #pass: CoalescedPass;
  #cancelTimer: (() => void) | undefined;

  constructor(deps: ScheduleTimerDeps) {
    this.#deps = deps;
    this.#pass = new CoalescedPass(() => this.#fire(), deps.log, 'schedules failed', deps.leading);
  }

  /** Fires due schedules now (once more after the pass in progress), then arms the next timer. */
  changed(): void {
    this.#pass.run();
  }

  async stop(): Promise<void> {
    this.#cancelTimer?.();
    await this.#pass.stop();
  }

  async #fire(): Promise<void> {
    const { store, timeZone, clock } = this.#deps;
    const rows = await allJobSchedules(store.db);
    // Read after the await: a pass that waited must not act on the time it was asked at.
    const nowS = Math.floor(clock.now() / 1000);
    const fired = new Set<number>();
    let next = Number.POSITIVE_INFINITY;
    for (const row of rows) {
      const fields = schedRowToFields(row);
      if (isDue(fields, row.done, nowS)) {
        if (fired.has(row.parent_id)) continue;
        fired.add(row.parent_id);
        const outcome = await store.tx(async (trx) => {
          const job = await findJob(trx, row.parent_id);
          if (!job) return 'gone';
          // Read again under the write lock: a leader that took over meanwhile may have fired it.
          const now = await findSchedule(trx, row.parent_id, row.id);
          if (!now || now.done !== row.done || now.time !== row.time) return 'gone';
          try {
            await this.#deps.execute(trx, job, 'schedule');
          } catch (err) {
            await setScheduleMessage(trx, row.id, `${this.#deps.ctime(nowS)} : ${failureMessage(err)}`);
            return 'busy';
          }
          const after = afterRun(fields, nowS, timeZone);
          await markScheduleFired(trx, row, after.fields, after.done);
          if (!after.finished) next = Math.min(next, after.fields.time);
          return 'fired';
        });
        this.#deps.log.info('schedule due', { job: row.parent_id, schedule: row.id, outcome });
        if (outcome === 'fired') this.#deps.fired(row.parent_id);
      } else if (!isFinished(fields, row.done, nowS) && fields.time > nowS) {
        next = Math.min(next, fields.time);
      }
    }
    // Every job fired in this pass is dispatched together, by priority, not by schedule order.
    this.#deps.passed();
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (this.#pass.stopped) return;
    const delay = Number.isFinite(next)
      ? Math.min(SCHEDULE_RECHECK_MS, Math.max(0, next * 1000 - clock.now()) + 5)
      : SCHEDULE_RECHECK_MS;
    this.#cancelTimer = clock.setTimeout(() => this.changed(), delay);
  }
}
