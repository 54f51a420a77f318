import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeSchedule } from '../../../core/schedule/describe.js';
import { afterRun, isDue, isFinished } from '../../../core/schedule/next-time.js';
import type { SchedActionFields } from '../../../core/schedule/sched-action-fields.js';
import { epochToWallClock, offsetString } from '../../../core/schedule/zoned-time.js';

const utc = (...a: [number, number, number, number?, number?, number?]) =>
  Date.UTC(a[0], a[1] - 1, a[2], a[3] ?? 0, a[4] ?? 0, a[5] ?? 0) / 1000;

const two = (n: number) => String(n).padStart(2, '0');
/** `2026-03-29 03:00 +0200`: the wall clock of the zone, with the offset, so DST shows. */
function label(epoch: number, timeZone: string): string {
  const w = epochToWallClock(epoch, timeZone);
  const text = `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)}`;
  return timeZone === 'UTC' ? text : `${text} ${offsetString(epoch, timeZone)}`;
}

function schedule(partial: Partial<SchedActionFields> & { time: number }): SchedActionFields {
  return { repeat: -1, days: '', endType: 0, endValue: -1, warning: 0, ...partial };
}

/**
 * A manual clock and one stored schedule row, driven as the scheduler drives it: at each instant
 * the clock is set to, the schedule runs if it is due (isDue, then afterRun into the row).
 */
class Harness {
  now: number;
  fields: SchedActionFields;
  done = -1;
  readonly runs: number[] = [];
  constructor(
    fields: SchedActionFields,
    readonly timeZone: string,
  ) {
    this.fields = fields;
    this.now = fields.time;
  }
  /** Sets the clock and fires if due; true when it ran. */
  at(now: number): boolean {
    this.now = now;
    if (!isDue(this.fields, this.done, now)) return false;
    const outcome = afterRun(this.fields, now, this.timeZone);
    this.fields = outcome.fields;
    this.done = outcome.done;
    this.runs.push(now);
    return true;
  }
  /** Wakes exactly at each next TIME (a daemon that is always up) until `count` runs or the end. */
  follow(count: number): string[] {
    for (let i = 0; i < count; i++) {
      if (isFinished(this.fields, this.done, this.now)) break;
      this.at(Math.max(this.now, this.fields.time));
    }
    return this.labels();
  }
  /** Ticks every `step` seconds from the current time to `until`, firing when due. */
  tick(until: number, step = 60): void {
    for (let t = this.now; t <= until; t += step) this.at(t);
  }
  labels(): string[] {
    return this.runs.map((r) => label(r, this.timeZone));
  }
  next(): string {
    return label(this.fields.time, this.timeZone);
  }
  /** The row as a restarted daemon reads it back from the store. */
  restart(): void {
    this.fields = JSON.parse(JSON.stringify(this.fields)) as SchedActionFields;
  }
}

describe('SPEC.md 5.3 table, Product behaviour (TZ=UTC)', () => {
  // Each row: the runs of a daemon that is always up. Product and ONE agree on all five rows; the
  // differences are in the catch-up, month-end, DST and END tests below.
  it('weekly 1,5 from Mon 2026-01-05 09:00: Mon 05 -> Fri 09 -> Mon 12 -> Fri 16 -> Mon 19', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 5, 9), repeat: 0, days: '1,5' }), 'UTC');
    assert.deepEqual(h.follow(5), [
      '2026-01-05 09:00',
      '2026-01-09 09:00',
      '2026-01-12 09:00',
      '2026-01-16 09:00',
      '2026-01-19 09:00',
    ]);
  });

  it('weekly 1 from Wed 2026-01-07 10:00: the first run is at TIME whatever DAYS says, then Mondays', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 7, 10), repeat: 0, days: '1' }), 'UTC');
    assert.deepEqual(h.follow(3), ['2026-01-07 10:00', '2026-01-12 10:00', '2026-01-19 10:00']);
  });

  it('monthly 1,15 from 2026-01-15 02:00: 01-15 -> 02-01 -> 02-15 -> 03-01 -> 03-15 -> 04-01', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 15, 2), repeat: 1, days: '1,15' }), 'UTC');
    assert.deepEqual(h.follow(6), [
      '2026-01-15 02:00',
      '2026-02-01 02:00',
      '2026-02-15 02:00',
      '2026-03-01 02:00',
      '2026-03-15 02:00',
      '2026-04-01 02:00',
    ]);
  });

  it('yearly 0,180 from 2026-01-01 00:30: 2026-01-01 -> 2026-06-30 -> 2027-01-01 -> 2027-06-30', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 1, 0, 30), repeat: 2, days: '0,180' }), 'UTC');
    assert.deepEqual(h.follow(4), [
      '2026-01-01 00:30',
      '2026-06-30 00:30',
      '2027-01-01 00:30',
      '2027-06-30 00:30',
    ]);
  });

  it('hourly 6 from 2026-01-01 00:00: every 6 h; after 20 h of downtime one run, then 00:00 on 01-02', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 1), repeat: 3, days: '6' }), 'UTC');
    assert.deepEqual(h.follow(5), [
      '2026-01-01 00:00',
      '2026-01-01 06:00',
      '2026-01-01 12:00',
      '2026-01-01 18:00',
      '2026-01-02 00:00',
    ]);
    // Down from just after the 00:00 run until 20:00: the missed 06:00, 12:00 and 18:00 make one run.
    const down = new Harness(schedule({ time: utc(2026, 1, 1, 6), repeat: 3, days: '6' }), 'UTC');
    down.now = utc(2026, 1, 1, 20);
    down.tick(utc(2026, 1, 1, 23, 59));
    assert.deepEqual(down.labels(), ['2026-01-01 20:00']);
    assert.equal(down.next(), '2026-01-02 00:00');
  });
});

describe('catch-up after downtime: exactly one run, the next TIME strictly after now', () => {
  it('weekly 1,5 due Mon 5 Jan, daemon back Thu 15 Jan (ONE: Tue 6, Wed 7, ... one per tick)', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 5, 9), repeat: 0, days: '1,5' }), 'UTC');
    h.now = utc(2026, 1, 15, 10);
    h.tick(utc(2026, 1, 16, 8, 59));
    assert.deepEqual(h.labels(), ['2026-01-15 10:00']);
    assert.equal(h.next(), '2026-01-16 09:00');
  });

  it('monthly, 3 months down: one run on return, then the next listed day', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 15, 2), repeat: 1, days: '1,15' }), 'UTC');
    h.now = utc(2026, 4, 20, 12);
    h.tick(utc(2026, 4, 30, 23), 600);
    assert.deepEqual(h.labels(), ['2026-04-20 12:00']);
    assert.equal(h.next(), '2026-05-01 02:00');
  });

  it('a schedule due on a busy job stays due while it waits, and one run moves it past now', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 1), repeat: 3, days: '1' }), 'UTC');
    // The job is busy for 5 h 30 min: every tick sees it due, nothing is stored.
    for (let t = utc(2026, 1, 1); t < utc(2026, 1, 1, 5, 30); t += 60)
      assert.equal(isDue(h.fields, h.done, t), true);
    assert.equal(h.at(utc(2026, 1, 1, 5, 30)), true);
    assert.equal(h.next(), '2026-01-01 06:00');
    assert.equal(isDue(h.fields, h.done, utc(2026, 1, 1, 5, 59)), false);
  });
});

describe('month ends: the last day of a shorter month, no drift', () => {
  it('DAYS=31 from 31 Jan: 28 Feb, 31 Mar, 30 Apr, 31 May, 30 Jun (ONE: 3 Mar, 31 Mar, 1 May, 31 May)', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 31, 2), repeat: 1, days: '31' }), 'UTC');
    assert.deepEqual(h.follow(6), [
      '2026-01-31 02:00',
      '2026-02-28 02:00',
      '2026-03-31 02:00',
      '2026-04-30 02:00',
      '2026-05-31 02:00',
      '2026-06-30 02:00',
    ]);
  });

  it('DAYS=30 from 30 Jan: 28 Feb, 30 Mar, 30 Apr (ONE: 2 Mar, 30 Mar)', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 30, 2), repeat: 1, days: '30' }), 'UTC');
    assert.deepEqual(h.follow(4), [
      '2026-01-30 02:00',
      '2026-02-28 02:00',
      '2026-03-30 02:00',
      '2026-04-30 02:00',
    ]);
  });

  it('DAYS=29: 29 Feb in a leap year, 28 Feb otherwise', () => {
    const leap = new Harness(schedule({ time: utc(2028, 1, 29, 2), repeat: 1, days: '29' }), 'UTC');
    assert.deepEqual(leap.follow(3), ['2028-01-29 02:00', '2028-02-29 02:00', '2028-03-29 02:00']);
    const common = new Harness(schedule({ time: utc(2027, 1, 29, 2), repeat: 1, days: '29' }), 'UTC');
    assert.deepEqual(common.follow(3), ['2027-01-29 02:00', '2027-02-28 02:00', '2027-03-29 02:00']);
  });

  it('DAYS="15,31" in February runs on the 15th and the 28th; "30,31" runs once on the 28th', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 31), repeat: 1, days: '15,31' }), 'UTC');
    assert.deepEqual(h.follow(4), [
      '2026-01-31 00:00',
      '2026-02-15 00:00',
      '2026-02-28 00:00',
      '2026-03-15 00:00',
    ]);
    const both = new Harness(schedule({ time: utc(2026, 1, 31), repeat: 1, days: '30,31' }), 'UTC');
    assert.deepEqual(both.follow(4), [
      '2026-01-31 00:00',
      '2026-02-28 00:00',
      '2026-03-30 00:00',
      '2026-03-31 00:00',
    ]);
  });

  it('a restart between months keeps the day list (no drift through the stored TIME)', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 31, 2), repeat: 1, days: '31' }), 'UTC');
    h.follow(2);
    h.restart();
    assert.equal(h.next(), '2026-03-31 02:00');
  });
});

describe('leap years: YEARLY days are tm_yday (0 = 1 January)', () => {
  it('day 59 is 1 Mar in common years and 29 Feb in leap years', () => {
    const h = new Harness(schedule({ time: utc(2027, 3, 1, 4), repeat: 2, days: '59' }), 'UTC');
    assert.deepEqual(h.follow(4), [
      '2027-03-01 04:00',
      '2028-02-29 04:00',
      '2029-03-01 04:00',
      '2030-03-01 04:00',
    ]);
  });

  it('day 365 exists in leap years only; otherwise it runs on 31 Dec (day 364)', () => {
    const h = new Harness(schedule({ time: utc(2027, 12, 31, 4), repeat: 2, days: '365' }), 'UTC');
    assert.deepEqual(h.follow(3), ['2027-12-31 04:00', '2028-12-31 04:00', '2029-12-31 04:00']);
    const both = new Harness(schedule({ time: utc(2028, 12, 30, 4), repeat: 2, days: '364,365' }), 'UTC');
    assert.deepEqual(both.follow(4), [
      '2028-12-30 04:00',
      '2028-12-31 04:00',
      '2029-12-31 04:00',
      '2030-12-31 04:00',
    ]);
  });

  it('a century year is not leap (2100), 2000-style years are', () => {
    const h = new Harness(schedule({ time: utc(2099, 3, 1), repeat: 2, days: '59' }), 'UTC');
    assert.deepEqual(h.follow(3), ['2099-03-01 00:00', '2100-03-01 00:00', '2101-03-01 00:00']);
  });
});

describe('DST: the wall clock of the zone is kept', () => {
  const MADRID = 'Europe/Madrid';
  const NEW_YORK = 'America/New_York';

  it('weekly Sunday 03:30 Madrid across spring: stays 03:30 (ONE: 04:30 CEST from then on)', () => {
    const h = new Harness(schedule({ time: utc(2026, 3, 22, 2, 30), repeat: 0, days: '0' }), MADRID);
    assert.deepEqual(h.follow(3), [
      '2026-03-22 03:30 +0100',
      '2026-03-29 03:30 +0200',
      '2026-04-05 03:30 +0200',
    ]);
  });

  it('weekly Sunday 03:30 Madrid across autumn', () => {
    const h = new Harness(schedule({ time: utc(2026, 10, 18, 1, 30), repeat: 0, days: '0' }), MADRID);
    assert.deepEqual(h.follow(3), [
      '2026-10-18 03:30 +0200',
      '2026-10-25 03:30 +0100',
      '2026-11-01 03:30 +0100',
    ]);
  });

  it('weekly 02:30 Madrid: in the spring gap it runs at 03:00, the first valid time, then back to 02:30', () => {
    const h = new Harness(schedule({ time: utc(2026, 3, 22, 1, 30), repeat: 0, days: '0' }), MADRID);
    assert.deepEqual(h.follow(3), [
      '2026-03-22 02:30 +0100',
      '2026-03-29 03:00 +0200',
      '2026-04-05 02:30 +0200',
    ]);
  });

  it('the 02:30 survives a restart right after the gap run (the anchor is stored)', () => {
    const h = new Harness(schedule({ time: utc(2026, 3, 22, 1, 30), repeat: 0, days: '0' }), MADRID);
    h.follow(2);
    h.restart();
    assert.equal(h.next(), '2026-04-05 02:30 +0200');
  });

  it('weekly 02:30 Madrid in the autumn overlap runs once, the first 02:30 (CEST)', () => {
    const h = new Harness(schedule({ time: utc(2026, 10, 18, 0, 30), repeat: 0, days: '0' }), MADRID);
    h.follow(1);
    h.tick(utc(2026, 10, 25, 12), 300);
    assert.deepEqual(h.labels(), ['2026-10-18 02:30 +0200', '2026-10-25 02:30 +0200']);
    assert.equal(h.next(), '2026-11-01 02:30 +0100');
  });

  it('monthly day 29 at 02:30 Madrid: clamped in February, gap-shifted on 29 Mar, back to 02:30 in April', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 29, 1, 30), repeat: 1, days: '29' }), MADRID);
    assert.deepEqual(h.follow(4), [
      '2026-01-29 02:30 +0100',
      '2026-02-28 02:30 +0100',
      '2026-03-29 03:00 +0200',
      '2026-04-29 02:30 +0200',
    ]);
  });

  it('weekly Sunday 01:30 New York: once in the autumn overlap (EDT), then EST', () => {
    const h = new Harness(schedule({ time: utc(2026, 10, 25, 5, 30), repeat: 0, days: '0' }), NEW_YORK);
    assert.deepEqual(h.follow(3), [
      '2026-10-25 01:30 -0400',
      '2026-11-01 01:30 -0400',
      '2026-11-08 01:30 -0500',
    ]);
  });

  it('monthly day 8 at 02:30 New York: 03:00 on the spring-forward day, 02:30 after', () => {
    const h = new Harness(schedule({ time: utc(2026, 2, 8, 7, 30), repeat: 1, days: '8' }), NEW_YORK);
    assert.deepEqual(h.follow(3), [
      '2026-02-08 02:30 -0500',
      '2026-03-08 03:00 -0400',
      '2026-04-08 02:30 -0400',
    ]);
  });

  it('INTERVAL "1 day" at 02:30 New York across spring, and "1 day" at 01:30 across autumn', () => {
    const spring = new Harness(schedule({ time: utc(2026, 3, 7, 7, 30), interval: '1 day' }), NEW_YORK);
    assert.deepEqual(spring.follow(3), [
      '2026-03-07 02:30 -0500',
      '2026-03-08 03:00 -0400',
      '2026-03-09 02:30 -0400',
    ]);
    const autumn = new Harness(schedule({ time: utc(2026, 10, 31, 5, 30), interval: '1 day' }), NEW_YORK);
    assert.deepEqual(autumn.follow(3), [
      '2026-10-31 01:30 -0400',
      '2026-11-01 01:30 -0400',
      '2026-11-02 01:30 -0500',
    ]);
  });

  it('INTERVAL "2 weeks" keeps 03:30 Madrid; INTERVAL "6 hours" is absolute time', () => {
    const weeks = new Harness(schedule({ time: utc(2026, 3, 15, 2, 30), interval: '2 weeks' }), MADRID);
    assert.deepEqual(weeks.follow(3), [
      '2026-03-15 03:30 +0100',
      '2026-03-29 03:30 +0200',
      '2026-04-12 03:30 +0200',
    ]);
    const hours = new Harness(schedule({ time: utc(2026, 3, 28, 23), interval: '6 hours' }), MADRID);
    assert.deepEqual(hours.follow(3), [
      '2026-03-29 00:00 +0100',
      '2026-03-29 07:00 +0200',
      '2026-03-29 13:00 +0200',
    ]);
  });

  it('CRON "30 2 * * *" New York across spring and "30 1 * * *" across autumn', () => {
    const spring = new Harness(schedule({ time: utc(2026, 3, 7, 7, 30), cron: '30 2 * * *' }), NEW_YORK);
    assert.deepEqual(spring.follow(3), [
      '2026-03-07 02:30 -0500',
      '2026-03-08 03:00 -0400',
      '2026-03-09 02:30 -0400',
    ]);
    const autumn = new Harness(schedule({ time: utc(2026, 10, 31, 5, 30), cron: '30 1 * * *' }), NEW_YORK);
    assert.deepEqual(autumn.follow(3), [
      '2026-10-31 01:30 -0400',
      '2026-11-01 01:30 -0400',
      '2026-11-02 01:30 -0500',
    ]);
  });

  it('CRON "0 3 * * 1-5" Madrid across the spring weekend; "*/30 1-3 * * *" collapses the gap into one run', () => {
    const h = new Harness(schedule({ time: utc(2026, 3, 27, 2), cron: '0 3 * * 1-5' }), MADRID);
    assert.deepEqual(h.follow(3), [
      '2026-03-27 03:00 +0100',
      '2026-03-30 03:00 +0200',
      '2026-03-31 03:00 +0200',
    ]);
    const gap = new Harness(schedule({ time: utc(2026, 3, 29, 0), cron: '*/30 1-3 * * *' }), MADRID);
    assert.deepEqual(gap.follow(5), [
      '2026-03-29 01:00 +0100',
      '2026-03-29 01:30 +0100',
      '2026-03-29 03:00 +0200',
      '2026-03-29 03:30 +0200',
      '2026-03-30 01:00 +0200',
    ]);
  });
});

describe('END: counts exact, dates never exceeded', () => {
  it('END_TYPE 1, END_VALUE 3 runs exactly 3 times (ONE: 4); END_VALUE 1 runs once (ONE: 2)', () => {
    for (const n of [1, 2, 3, 5]) {
      const h = new Harness(
        schedule({ time: utc(2026, 1, 1), repeat: 3, days: '1', endType: 1, endValue: n }),
        'UTC',
      );
      h.tick(utc(2026, 1, 2), 300);
      assert.equal(h.runs.length, n, `END_VALUE ${n}`);
      assert.equal(isFinished(h.fields, h.done, h.now), true);
      assert.equal(h.fields.endValue, 0);
    }
  });

  it('END_VALUE counts the runs left, so a restart in the middle keeps the total', () => {
    const h = new Harness(
      schedule({ time: utc(2026, 1, 5, 9), repeat: 0, days: '1,5', endType: 1, endValue: 4 }),
      'UTC',
    );
    h.follow(2);
    assert.equal(h.fields.endValue, 2);
    h.restart();
    h.follow(10);
    assert.deepEqual(h.labels(), [
      '2026-01-05 09:00',
      '2026-01-09 09:00',
      '2026-01-12 09:00',
      '2026-01-16 09:00',
    ]);
  });

  it('a catch-up run counts as one run', () => {
    const h = new Harness(
      schedule({ time: utc(2026, 1, 1), repeat: 3, days: '1', endType: 1, endValue: 2 }),
      'UTC',
    );
    h.now = utc(2026, 1, 1, 10);
    h.tick(utc(2026, 1, 1, 12), 60);
    assert.deepEqual(h.labels(), ['2026-01-01 10:00', '2026-01-01 11:00']);
  });

  it('END_TYPE 2: the last run is at or before the end date, never after (ONE: may run once past it)', () => {
    const end = utc(2026, 1, 2, 3);
    const h = new Harness(
      schedule({ time: utc(2026, 1, 1), repeat: 3, days: '6', endType: 2, endValue: end }),
      'UTC',
    );
    h.tick(utc(2026, 1, 3), 600);
    assert.deepEqual(h.labels(), [
      '2026-01-01 00:00',
      '2026-01-01 06:00',
      '2026-01-01 12:00',
      '2026-01-01 18:00',
      '2026-01-02 00:00',
    ]);
    assert.equal(isFinished(h.fields, h.done, h.now), true);
    const exact = new Harness(
      schedule({ time: utc(2026, 1, 1), repeat: 3, days: '6', endType: 2, endValue: utc(2026, 1, 1, 12) }),
      'UTC',
    );
    exact.tick(utc(2026, 1, 2), 600);
    assert.deepEqual(exact.labels(), ['2026-01-01 00:00', '2026-01-01 06:00', '2026-01-01 12:00']);
  });

  it('END_TYPE 2: a run missed while down is not caught up after the end date', () => {
    const h = new Harness(
      schedule({ time: utc(2026, 1, 1), repeat: 0, days: '4', endType: 2, endValue: utc(2026, 1, 10) }),
      'UTC',
    );
    h.now = utc(2026, 1, 10, 0, 1);
    h.tick(utc(2026, 2, 1), 3600);
    assert.deepEqual(h.runs, []);
    assert.equal(isFinished(h.fields, h.done, h.now), true);
  });

  it('one-shot: runs once, then finished; TIME <= DONE', () => {
    const h = new Harness(schedule({ time: utc(2026, 1, 1) }), 'UTC');
    h.tick(utc(2026, 1, 2), 3600);
    assert.equal(h.runs.length, 1);
    assert.equal(isFinished(h.fields, h.done, h.now), true);
    assert.ok(h.fields.time <= h.done);
  });
});

describe('isDue', () => {
  const f = schedule({ time: 1000, repeat: 3, days: '1' });
  it('TIME <= now and TIME > DONE', () => {
    assert.equal(isDue(f, -1, 999), false);
    assert.equal(isDue(f, -1, 1000), true);
    assert.equal(isDue(f, 1000, 1500), false);
    assert.equal(isDue(f, 999, 1500), true);
  });
  it('the end is checked inside', () => {
    assert.equal(isDue({ ...f, endType: 1, endValue: 0 }, -1, 1000), false);
    assert.equal(isDue({ ...f, endType: 1, endValue: 1 }, -1, 1000), true);
    assert.equal(isDue({ ...f, endType: 2, endValue: 1000 }, -1, 1000), true);
    assert.equal(isDue({ ...f, endType: 2, endValue: 1000 }, -1, 1001), false);
  });
  it('afterRun keeps the WARNING lead and sets DONE = now', () => {
    const out = afterRun({ ...f, warning: 900 }, 1200, 'UTC');
    assert.equal(out.done, 1200);
    assert.equal(out.fields.time, 1000 + 3600);
    assert.equal(out.fields.warning, 1000 + 3600 - 100);
    assert.equal(out.finished, false);
  });
});

describe('describeSchedule', () => {
  it('says what repeats, when, and how it ends', () => {
    const t = utc(2026, 1, 5, 8);
    const m = 'Europe/Madrid';
    assert.equal(describeSchedule(schedule({ time: t }), m), 'once, at 2026-01-05 09:00 +0100');
    assert.equal(
      describeSchedule(schedule({ time: t, repeat: 0, days: '5,1' }), m),
      'weekly on Mon, Fri at 09:00',
    );
    assert.equal(
      describeSchedule(schedule({ time: t, repeat: 1, days: '31', endType: 1, endValue: 3 }), m),
      'monthly on day 31 at 09:00 (the last day in shorter months), 3 runs left',
    );
    assert.equal(describeSchedule(schedule({ time: t, repeat: 3, days: '6' })), 'every 6 hours');
    assert.equal(
      describeSchedule(
        schedule({ time: t, interval: '2 days', endType: 2, endValue: utc(2027, 1, 30, 23) }),
        m,
      ),
      'every 2 days at 09:00, until 2027-01-31 00:00 +0100',
    );
    assert.equal(
      describeSchedule(schedule({ time: t, cron: '0 3 * * 1-5' }), m),
      'cron "0 3 * * 1-5" (Europe/Madrid)',
    );
  });
});
