/**
 * Scheduled verify of datastores (VERIFY_INTERVAL, VERIFY_BUDGET): each pass reads the datastores
 * that have one, arms a new or changed one, and starts those due. A verify due moves to its next
 * time in the store before it starts, so a crash never fires one twice; it then waits for a
 * verify/GC slot like `onedatastore verify`, reads until its budget is spent, and the store keeps
 * where it stopped for the next one (vm-operations.ts `scheduledVerify`). Passes never overlap; the
 * timer is armed for the next due time, at most an hour ahead (a clock change is noticed).
 */
import { type Clock, epochSeconds } from '../clock.js';
import type { Logger } from '../log.js';
import {
  nextVerifyTime,
  parseVerifyBudget,
  parseVerifyInterval,
  type VerifyBudget,
} from '../schedule/verify-settings.js';
import type { Store } from '../store/db.js';
import { armVerifySchedule, datastoreVerifySchedules, markVerifyFired } from '../store/verify-schedules.js';
import { CoalescedPass } from './coalesced-pass.js';
import { failureMessage } from './failure.js';
import type { ScheduledVerifyOutcome } from './vm-operations.js';

export interface VerifyTimerDeps {
  /** Among several daemons, only the leader runs these passes (absent: always). */
  readonly leading?: () => boolean;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timeZone: string;
  /** Runs one scheduled verify when a verify/GC slot is free. */
  readonly run: (datastoreId: number, budget: VerifyBudget | undefined) => Promise<ScheduledVerifyOutcome>;
}

const RECHECK_MS = 60 * 60 * 1000;

export class VerifyTimer {
  readonly #deps: VerifyTimerDeps;
  readonly #running = new Map<number, Promise<void>>();
  readonly #pass: CoalescedPass;
  #cancelTimer: (() => void) | undefined;

  constructor(deps: VerifyTimerDeps) {
    this.#deps = deps;
    this.#pass = new CoalescedPass(() => this.#fire(), deps.log, 'scheduled verify failed', deps.leading);
  }

  /** Starts the due verifies now (once more after the pass in progress), then rearms the timer. */
  changed(): void {
    this.#pass.run();
  }

  /** Stops firing; waits for the pass and the verifies running. */
  async stop(): Promise<void> {
    this.#cancelTimer?.();
    await this.#pass.stop();
    await Promise.all(this.#running.values());
  }

  /** Resolves when no scheduled verify runs (tests). */
  async idle(): Promise<void> {
    await this.#pass.settled();
    await Promise.all(this.#running.values());
  }

  async #fire(): Promise<void> {
    const { store, clock, log, timeZone } = this.#deps;
    const schedules = await datastoreVerifySchedules(store.db);
    const nowS = epochSeconds(clock);
    let next = Number.POSITIVE_INFINITY;
    for (const s of schedules) {
      const id = s.datastoreId;
      let budget: VerifyBudget | undefined;
      let at: number;
      try {
        const interval = parseVerifyInterval(s.interval);
        budget = s.budget === undefined ? undefined : parseVerifyBudget(s.budget);
        at = nextVerifyTime(interval, nowS, timeZone);
      } catch (err) {
        log.warn('datastore VERIFY_INTERVAL or VERIFY_BUDGET unreadable; no scheduled verify', {
          datastore: id,
          error: failureMessage(err),
        });
        continue;
      }
      if (!s.row || s.row.spec !== s.interval) {
        await store.tx((trx) => armVerifySchedule(trx, id, s.interval, at));
        next = Math.min(next, at);
        continue;
      }
      if (s.row.next_at > nowS || this.#running.has(id)) {
        next = Math.min(next, Math.max(s.row.next_at, nowS + 60));
        continue;
      }
      await store.tx((trx) => markVerifyFired(trx, id, at, nowS));
      next = Math.min(next, at);
      log.info('scheduled verify due', { datastore: id, budget: s.budget ?? 'none' });
      const run = this.#deps
        .run(id, budget)
        .then((r) =>
          log.info('scheduled verify done', {
            datastore: id,
            chunks: r.chunksChecked,
            bytes: r.bytesRead,
            problems: r.problems.length,
            ...(r.stoppedAt ? { resumesAt: r.stoppedAt } : { reachedEnd: true }),
          }),
        )
        .catch((err: unknown) =>
          log.error('scheduled verify failed', { datastore: id, error: failureMessage(err) }),
        )
        .finally(() => this.#running.delete(id));
      this.#running.set(id, run);
    }
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (this.#pass.stopped) return;
    const delay = Number.isFinite(next)
      ? Math.min(RECHECK_MS, Math.max(0, next * 1000 - clock.now()) + 5)
      : RECHECK_MS;
    this.#cancelTimer = clock.setTimeout(() => this.changed(), delay);
  }
}
