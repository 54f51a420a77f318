import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError } from '../../../cli/cli-error.js';
import {
  parseEndSpec,
  parseTimeSpec,
  SCHEDULE_OPTION_HELP,
  type ScheduleContext,
  type ScheduleOptions,
  scheduleOptionsFromArgs,
  scheduleTemplate,
} from '../../../cli/schedule-options.js';

const utc = (...a: [number, number, number, number?, number?, number?]) =>
  Date.UTC(a[0], a[1] - 1, a[2], a[3] ?? 0, a[4] ?? 0, a[5] ?? 0) / 1000;

/** 2026-11-22T11:53:34Z, the `now` of the SPEC.md 3.6 example. */
const NOW = 1795348414;
const UTC: ScheduleContext = { now: NOW, timeZone: 'UTC' };
const MADRID: ScheduleContext = { now: NOW, timeZone: 'Europe/Madrid' };
const NEW_YORK: ScheduleContext = { now: NOW, timeZone: 'America/New_York' };

/** The CliError message, or the template when accepted. */
function run(opts: ScheduleOptions, ctx: ScheduleContext = UTC): string {
  try {
    return scheduleTemplate(opts, ctx).template;
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return `error: ${err.message}`;
  }
}

describe('CLI schedule options: the template (SPEC.md 3.6)', () => {
  it('`backup 1 --schedule now --hourly 6` sends the example of 3.6, byte for byte', () => {
    assert.deepEqual(scheduleTemplate({ schedule: 'now', hourly: '6' }, UTC), {
      template: 'SCHED_ACTION = [TIME    = 1795348414, REPEAT = 3, DAYS = "6", END_TYPE = 0]',
      time: NOW,
      description: 'backup scheduled at 2026-11-22 11:53:34 +0000',
    });
  });

  it('no repeat: TIME only', () => {
    assert.equal(run({ schedule: '1767225600' }), 'SCHED_ACTION = [TIME    = 1767225600]');
  });

  it('each repeat option; the first of weekly, monthly, yearly, hourly wins', () => {
    assert.match(run({ schedule: 'now', weekly: '1,4' }), /REPEAT = 0, DAYS = "1,4", END_TYPE = 0\]$/);
    assert.match(run({ schedule: 'now', monthly: '1,15' }), /REPEAT = 1, DAYS = "1,15", END_TYPE = 0\]$/);
    assert.match(run({ schedule: 'now', yearly: '0,180' }), /REPEAT = 2, DAYS = "0,180", END_TYPE = 0\]$/);
    assert.match(run({ schedule: 'now', hourly: '12', weekly: '5' }), /REPEAT = 0, DAYS = "5"/);
    assert.match(run({ schedule: 'now', monthly: '1', hourly: '2' }), /REPEAT = 1, DAYS = "1"/);
    assert.match(run({ schedule: 'now', yearly: '7', hourly: '2' }), /REPEAT = 2, DAYS = "7"/);
  });

  it('--end 12 is 12 times, not "the 12th" (no Date.parse trap); 5 and 100 too', () => {
    assert.equal(
      run({ schedule: 'now', weekly: '1', end: '12' }),
      'SCHED_ACTION = [TIME    = 1795348414, REPEAT = 0, DAYS = "1", END_TYPE = 1, END_VALUE = 12]',
    );
    assert.match(run({ schedule: 'now', weekly: '1', end: '5' }), /END_TYPE = 1, END_VALUE = 5\]$/);
    assert.match(run({ schedule: 'now', weekly: '1', end: '100' }), /END_TYPE = 1, END_VALUE = 100\]$/);
  });

  it('--end 2026-12-31 ends at that midnight in the zone; a time may be given', () => {
    assert.match(
      run({ schedule: 'now', weekly: '1', end: '2026-12-31' }),
      /END_TYPE = 2, END_VALUE = 1798675200\]$/,
    );
    assert.deepEqual(parseEndSpec('2026-12-31', NEW_YORK), { endType: 2, endValue: utc(2026, 12, 31, 5) });
    assert.deepEqual(parseEndSpec('2026-12-31', MADRID), { endType: 2, endValue: utc(2026, 12, 30, 23) });
    assert.deepEqual(parseEndSpec('2026-12-31T18:30', MADRID), {
      endType: 2,
      endValue: utc(2026, 12, 31, 17, 30),
    });
    assert.deepEqual(parseEndSpec('2026-12-31T18:30Z', MADRID), {
      endType: 2,
      endValue: utc(2026, 12, 31, 18, 30),
    });
  });
});

describe('CLI schedule options: refusals', () => {
  const table: readonly (readonly [ScheduleOptions, string])[] = [
    [
      { schedule: '+3600' },
      '--schedule +3600: backup jobs need an absolute time, not one relative to now; use now, an epoch, 2026-12-01T02:00 (optionally with Z or +01:00), "12/01 02:00" or "12/01/2026 02:00"',
    ],
    [{ schedule: 'next tuesday' }, 'Error parsing time spec: next tuesday'],
    [{ schedule: 'tomorrow 02:00' }, 'Error parsing time spec: tomorrow 02:00'],
    [{ schedule: '-5' }, 'Error parsing time spec: -5'],
    [
      { schedule: '2026-12-01T02:00+25:00' },
      'Error parsing time spec: 2026-12-01T02:00+25:00 (no such date or time, or not in 1970-9999)',
    ],
    [
      { schedule: '2026-02-30' },
      'Error parsing time spec: 2026-02-30 (no such date or time, or not in 1970-9999)',
    ],
    [
      { schedule: '2026-12-01T24:00' },
      'Error parsing time spec: 2026-12-01T24:00 (no such date or time, or not in 1970-9999)',
    ],
    [
      { schedule: '13/01 02:00' },
      'Error parsing time spec: 13/01 02:00 (no such date or time, or not in 1970-9999)',
    ],
    [
      { schedule: '1960-01-01' },
      'Error parsing time spec: 1960-01-01 (no such date or time, or not in 1970-9999)',
    ],
    [{ schedule: '99999999999999' }, 'Error parsing time spec: 99999999999999 (an epoch past year 9999)'],
    [
      { schedule: 'now', weekly: '1', end: 'soon' },
      '--end soon: give a number of runs (--end 10) or an ISO date, optionally with a time (--end 2027-01-31, --end 2027-01-31T02:00)',
    ],
    [{ schedule: 'now', weekly: '1', end: '0' }, '--end 0: the number of runs has to be 1 or more'],
    [
      { schedule: 'now', weekly: '1', end: '-3' },
      '--end -3: give a number of runs (--end 10) or an ISO date, optionally with a time (--end 2027-01-31, --end 2027-01-31T02:00)',
    ],
    [
      { schedule: 'now', weekly: '1', end: '12/31/2026' },
      '--end 12/31/2026: give a number of runs (--end 10) or an ISO date, optionally with a time (--end 2027-01-31, --end 2027-01-31T02:00)',
    ],
    [
      { schedule: 'now', weekly: '1', end: '2026-13-01' },
      '--end 2026-13-01: no such date or time, or not in 1970-9999',
    ],
    [
      { schedule: 'now', weekly: '1', end: '2026-01-31' },
      '--end 2026-01-31: 2026-01-31 00:00:00 +0000 is not after the first run at 2026-11-22 11:53:34 +0000, so the schedule would never run',
    ],
    [
      { schedule: 'now', end: '5' },
      '--end 5: a schedule that does not repeat has no end; add --weekly, --monthly, --yearly, --hourly, --interval or --cron',
    ],
    // The daemon's own checks, run before anything is sent, named by option.
    [{ schedule: 'now', weekly: '7' }, '--weekly "7": Days in a week have to be in [0,6] range'],
    [{ schedule: 'now', monthly: '0,15' }, '--monthly "0,15": Days in a month have to be in [1,31] range'],
    [{ schedule: 'now', yearly: '366' }, '--yearly "366": Days in a year have to be in [0,365] range'],
    [{ schedule: 'now', hourly: '168' }, '--hourly "168": Hours have to be in [1,167] range'],
    [{ schedule: 'now', weekly: '' }, '--weekly "": Scheduled Action repeat set, but DAYS are empty'],
    [
      { schedule: 'now', weekly: '1", END_TYPE = "2' },
      '--weekly "1\\", END_TYPE = \\"2": DAYS="1", END_TYPE = "2": 1", END_TYPE = "2 are not whole numbers; give numbers separated by commas, e.g. "1,4"',
    ],
  ];
  for (const [opts, message] of table) {
    it(JSON.stringify(opts), () => assert.equal(run(opts), `error: ${message}`));
  }

  it('an unknown zone is refused', () => {
    assert.equal(
      run({ schedule: 'now' }, { now: NOW, timeZone: 'Nowhere/City' }),
      'error: unknown time zone Nowhere/City',
    );
  });
});

describe('CLI schedule options: time specs', () => {
  it('now, an epoch', () => {
    assert.equal(parseTimeSpec('now', UTC), NOW);
    assert.equal(parseTimeSpec(' 1767603600 ', UTC), 1767603600);
    assert.equal(parseTimeSpec('0', UTC), 0);
  });

  it('ISO 8601 forms, with and without an offset', () => {
    const cases: readonly (readonly [string, number])[] = [
      ['2026-12-01', utc(2026, 11, 30, 23)],
      ['2026-12-01T02:00', utc(2026, 12, 1, 1)],
      ['2026-12-01 02:00', utc(2026, 12, 1, 1)],
      ['2026-12-01 02:00:00', utc(2026, 12, 1, 1)],
      ['2026-12-01T02:00:30.250', utc(2026, 12, 1, 1, 0, 30)],
      ['2026-12-01T02:00Z', utc(2026, 12, 1, 2)],
      ['2026-12-01T02:00:00Z', utc(2026, 12, 1, 2)],
      ['2026-12-01T02:00+05:30', utc(2026, 11, 30, 20, 30)],
      ['2026-12-01T02:00-0500', utc(2026, 12, 1, 7)],
      ['2026-12-01T02:00+01', utc(2026, 12, 1, 1)],
      // What `description` prints reads back.
      ['2026-12-01 02:00:00 +0100', utc(2026, 12, 1, 1)],
      ['2026-07-01T03:30', utc(2026, 7, 1, 1, 30)],
    ];
    for (const [spec, epoch] of cases) assert.equal(parseTimeSpec(spec, MADRID), epoch, spec);
  });

  it('OpenNebula-style MM/DD HH:MM (current year in the zone) and MM/DD/YYYY HH:MM', () => {
    assert.equal(parseTimeSpec('12/01 02:00', UTC), utc(2026, 12, 1, 2));
    assert.equal(parseTimeSpec('9/3 4:15', UTC), utc(2026, 9, 3, 4, 15));
    assert.equal(parseTimeSpec('12/01/2027 02:00', UTC), utc(2027, 12, 1, 2));
    assert.equal(parseTimeSpec('12/01/2027 02:00:15', NEW_YORK), utc(2027, 12, 1, 7, 0, 15));
    assert.equal(parseTimeSpec('12/01', UTC), utc(2026, 12, 1));
    // The current year is the zone's: at 2026-12-31 23:30 UTC it is already 2027 in Madrid.
    const newYearsEve = { now: utc(2026, 12, 31, 23, 30), timeZone: 'Europe/Madrid' };
    assert.equal(parseTimeSpec('06/01 00:00', newYearsEve), utc(2027, 5, 31, 22));
  });

  it('Europe/Madrid DST edges: a skipped time moves forward, a doubled one is the first', () => {
    assert.equal(parseTimeSpec('2026-03-29T02:30', MADRID), utc(2026, 3, 29, 1, 30));
    assert.equal(
      scheduleTemplate({ schedule: '2026-03-29T02:30' }, MADRID).description,
      'backup scheduled at 2026-03-29 03:30:00 +0200',
    );
    assert.equal(parseTimeSpec('2026-10-25 02:30', MADRID), utc(2026, 10, 25, 0, 30));
    assert.equal(
      scheduleTemplate({ schedule: '2026-10-25 02:30' }, MADRID).description,
      'backup scheduled at 2026-10-25 02:30:00 +0200',
    );
    assert.equal(
      scheduleTemplate({ schedule: '2026-10-25 03:30' }, MADRID).description,
      'backup scheduled at 2026-10-25 03:30:00 +0100',
    );
  });

  it('America/New_York DST edges', () => {
    assert.equal(parseTimeSpec('03/08/2026 02:30', NEW_YORK), utc(2026, 3, 8, 7, 30));
    assert.equal(
      scheduleTemplate({ schedule: '2026-03-08T02:30' }, NEW_YORK).description,
      'backup scheduled at 2026-03-08 03:30:00 -0400',
    );
    assert.equal(parseTimeSpec('2026-11-01T01:30', NEW_YORK), utc(2026, 11, 1, 5, 30));
    assert.equal(
      scheduleTemplate({ schedule: '2026-11-01T01:30' }, NEW_YORK).description,
      'backup scheduled at 2026-11-01 01:30:00 -0400',
    );
    assert.equal(
      scheduleTemplate({ schedule: '2026-12-01T02:00' }, NEW_YORK).description,
      'backup scheduled at 2026-12-01 02:00:00 -0500',
    );
  });
});

describe('CLI schedule options: --interval and --cron', () => {
  it('--interval "6 hours" starts now or at --schedule, with an optional --end', () => {
    assert.deepEqual(scheduleTemplate({ interval: '6 hours' }, UTC), {
      template: 'SCHED_ACTION = [TIME    = 1795348414, INTERVAL = "6 hours", END_TYPE = 0]',
      time: NOW,
      description: 'backup scheduled at 2026-11-22 11:53:34 +0000, then every 6 hours',
    });
    assert.equal(
      run({ schedule: '2026-12-01T02:00', interval: '1 day', end: '5' }, MADRID),
      `SCHED_ACTION = [TIME    = ${utc(2026, 12, 1, 1)}, INTERVAL = "1 day", END_TYPE = 1, END_VALUE = 5]`,
    );
    assert.equal(
      scheduleTemplate({ schedule: '2026-12-01T02:00', interval: '1 day', end: '2027-01-31' }, MADRID)
        .description,
      'backup scheduled at 2026-12-01 02:00:00 +0100, then every 1 day at 02:00, until 2027-01-31 00:00 +0100',
    );
  });

  it('--cron sends the expression; TIME only when --schedule gives the earliest start', () => {
    assert.deepEqual(scheduleTemplate({ cron: '0 3 * * 1-5' }, UTC), {
      template: 'SCHED_ACTION = [CRON = "0 3 * * 1-5", END_TYPE = 0]',
      time: utc(2026, 11, 23, 3),
      description: 'backup scheduled by cron "0 3 * * 1-5"',
    });
    assert.equal(
      run({ schedule: '2027-01-01', cron: '@daily', end: '10' }),
      `SCHED_ACTION = [TIME    = ${utc(2027, 1, 1)}, CRON = "@daily", END_TYPE = 1, END_VALUE = 10]`,
    );
  });

  it('refusals, before anything is sent, naming the option', () => {
    const table: readonly (readonly [ScheduleOptions, string])[] = [
      [
        { interval: '6 hours', cron: '0 3 * * *' },
        '--interval and --cron cannot be combined: --weekly/--monthly/--yearly/--hourly, --interval and --cron are different kinds of repeat; choose one',
      ],
      [
        { schedule: 'now', weekly: '1', interval: '6 hours' },
        '--weekly and --interval cannot be combined: --weekly/--monthly/--yearly/--hourly, --interval and --cron are different kinds of repeat; choose one',
      ],
      [
        { schedule: 'now', hourly: '6', cron: '0 3 * * *' },
        '--hourly and --cron cannot be combined: --weekly/--monthly/--yearly/--hourly, --interval and --cron are different kinds of repeat; choose one',
      ],
      [{ weekly: '1' }, '--weekly needs --schedule TIME: the first run (e.g. --schedule now --weekly ...)'],
      [
        { monthly: '1' },
        '--monthly needs --schedule TIME: the first run (e.g. --schedule now --monthly ...)',
      ],
      [{ yearly: '1' }, '--yearly needs --schedule TIME: the first run (e.g. --schedule now --yearly ...)'],
      [
        { hourly: '6', end: '3' },
        '--hourly needs --schedule TIME: the first run (e.g. --schedule now --hourly ...)',
      ],
      [
        { end: '3' },
        '--end needs a repeating schedule: --schedule TIME with --weekly, --monthly, --yearly or --hourly, or --interval, or --cron',
      ],
      [
        { interval: '6 hourz' },
        '--interval "6 hourz": INTERVAL="6 hourz": unknown unit "hourz"; use minutes, hours, days or weeks (singular too)',
      ],
      [{ cron: '0 3 * * 8' }, '--cron "0 3 * * 8": day-of-week field "8": 8 is out of range 0-7'],
      [
        { interval: '1 day', end: '2026-11-01' },
        '--end 2026-11-01: 2026-11-01 00:00:00 +0000 is not after the first run at 2026-11-22 11:53:34 +0000, so the schedule would never run',
      ],
    ];
    for (const [opts, message] of table) assert.equal(run(opts), `error: ${message}`, JSON.stringify(opts));
  });

  it('reads the options from command-line arguments; none given -> undefined', () => {
    assert.equal(scheduleOptionsFromArgs({ _: [], verbose: true }), undefined);
    assert.deepEqual(scheduleOptionsFromArgs({ _: [], hourly: 6, schedule: 'now', other: 'x' }), {
      schedule: 'now',
      hourly: '6',
    });
    for (const name of [
      'schedule',
      'weekly',
      'monthly',
      'yearly',
      'hourly',
      'interval',
      'cron',
      'end',
    ] as const) {
      assert.ok(SCHEDULE_OPTION_HELP[name].length > 20, `help for --${name}`);
    }
  });
});
