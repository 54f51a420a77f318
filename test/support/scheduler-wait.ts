/** Waiting on a scheduler running on a real store with a manual clock: conditions with a deadline, not sleeps. */
import assert from 'node:assert/strict';
import type { JobScheduler } from '../../core/scheduler/job-scheduler.js';

/** Lets the scheduler's store work settle (it runs on promises and SQLite). */
export async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.fail(`timed out (5 s) waiting for: ${what}`);
}

/**
 * Resolves once a dispatch pass that started after this call has run to its end, so whatever the
 * scheduler would start by now is started: what a test waits for before asserting that something
 * did not start. The scheduler marks the start of each pass in lastPassAt (the manual clock stands
 * still, so the test marks it -1 first), and a pass asked for while one runs starts when it ends:
 * the second round sees the end of a pass the first round saw start.
 */
export async function passed(s: JobScheduler): Promise<void> {
  for (let round = 0; round < 2; round++) {
    s.kick();
    s.kick();
    s.lastPassAt = -1;
    await until('a dispatch pass', () => s.lastPassAt !== -1);
  }
}
