import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTimeSpec, scheduleTemplate } from '../../../cli/schedule-options.js';
import { TemplateError } from '../../../core/errors.js';
import { parseSchedAction, updateSchedAction } from '../../../core/schedule/sched-action.js';
import { epochToWallClock, offsetString, wallClockToEpoch } from '../../../core/schedule/zoned-time.js';
import { parseTemplate } from '../../../core/template/parser.js';
import type { VectorAttribute } from '../../../core/template/types.js';

const vector = (text: string) => parseTemplate(`SCHED_ACTION = [ ${text} ]`).attributes[0] as VectorAttribute;
const problems = (text: string) => {
  try {
    parseSchedAction(vector(text), { forBackupJob: true });
    return [];
  } catch (err) {
    assert.ok(err instanceof TemplateError);
    return err.problems.map((p) => `${p.attribute}: ${p.message}`);
  }
};

describe('SCHED_ACTION validation (SPEC.md 5.2 with the Product rules)', () => {
  it('accepts the schedules of backupjob-incremental.tmpl', () => {
    assert.deepEqual(
      parseSchedAction(vector('REPEAT="0", DAYS="1,4", END_TYPE="0", TIME="1767236400"'), {
        forBackupJob: true,
      }),
      {
        time: 1767236400,
        repeat: 0,
        days: '1,4',
        endType: 0,
        endValue: -1,
        warning: 0,
      },
    );
    const hourly = parseSchedAction(
      vector('REPEAT="3", DAYS="12", END_TYPE="1", END_VALUE="10", TIME="1767225600"'),
      {
        forBackupJob: true,
      },
    );
    assert.equal(hourly.endValue, 10);
  });

  const table: [string, string][] = [
    ['TIME="abc"', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: abc'],
    ['TIME="1", WARNING="soon"', 'SCHED_ACTION/WARNING: Unable to parse the warning value: soon'],
    [
      'TIME="1", REPEAT="4", DAYS="1"',
      'SCHED_ACTION/REPEAT: Wrong REPEAT value: 4 (use -1 none, 0 weekly, 1 monthly, 2 yearly, 3 hourly)',
    ],
    ['TIME="1", REPEAT="0"', 'SCHED_ACTION/DAYS: Repeat set, but DAYS are empty'],
    [
      'TIME="1", REPEAT="0", DAYS="1,x"',
      'SCHED_ACTION/DAYS: DAYS="1,x" must be a comma-separated list of whole numbers',
    ],
    ['TIME="1", REPEAT="1", DAYS="0"', 'SCHED_ACTION/DAYS: Days in a month have to be in [1,31] range'],
    ['TIME="1", REPEAT="2", DAYS="366"', 'SCHED_ACTION/DAYS: Days in a year have to be in [0,365] range'],
    [
      'TIME="1", REPEAT="3", DAYS="6,12"',
      'SCHED_ACTION/DAYS: Hours have to be in [1,167] range (hourly takes exactly one value: the period in hours)',
    ],
    [
      'TIME="1", END_TYPE="3"',
      'SCHED_ACTION/END_TYPE: Wrong END_TYPE value: 3 (use -1 none, 0 never, 1 after N times, 2 on a date)',
    ],
    [
      'TIME="1", END_TYPE="1", END_VALUE="-1"',
      'SCHED_ACTION/END_VALUE: Error parsing END_VALUE, times has to be greater or equal to 0: -1',
    ],
    [
      'TIME="1", END_TYPE="2", END_VALUE="tomorrow"',
      'SCHED_ACTION/END_VALUE: Error parsing END_VALUE, wrong format for date.: tomorrow (give epoch seconds)',
    ],
    [
      'TIME="1", END_TYPE="2"',
      'SCHED_ACTION/END_VALUE: END_TYPE 2 needs END_VALUE: the end date in epoch seconds',
    ],
  ];
  for (const [input, message] of table) {
    it(input, () => assert.deepEqual(problems(input), [message]));
  }

  it('a missing TIME and missing DAYS are both reported', () => {
    assert.deepEqual(problems('REPEAT="0"'), [
      'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: ',
      'SCHED_ACTION/DAYS: Repeat set, but DAYS are empty',
    ]);
  });

  it('reports every problem of one vector at once', () => {
    assert.equal(problems('TIME="+5", REPEAT="0", DAYS="9", END_TYPE="1"').length, 3);
  });

  it('schedupdate changes only the given sub-keys and re-checks the whole', () => {
    const base = parseSchedAction(vector('REPEAT="3", DAYS="1", TIME="1695478500"'), { forBackupJob: true });
    assert.deepEqual(updateSchedAction(base, vector('DAYS="5"')), { ...base, days: '5' });
    assert.throws(() => updateSchedAction(base, vector('DAYS="200"')), /Hours have to be in \[1,167\]/);
  });
});

describe('time zones', () => {
  it('wall clock to epoch, with DST gaps and overlaps', () => {
    assert.equal(
      wallClockToEpoch({ year: 2026, month: 1, day: 5, hour: 9, minute: 0, second: 0 }, 'UTC'),
      1767603600,
    );
    // Europe/Madrid springs forward at 02:00 on 29 Mar 2026: 02:30 does not exist, it becomes 03:30 CEST.
    const gap = wallClockToEpoch(
      { year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0 },
      'Europe/Madrid',
    );
    assert.deepEqual(epochToWallClock(gap, 'Europe/Madrid').hour, 3);
    // America/New_York falls back on 1 Nov 2026: 01:30 happens twice; the earlier (EDT) is used.
    const overlap = wallClockToEpoch(
      { year: 2026, month: 11, day: 1, hour: 1, minute: 30, second: 0 },
      'America/New_York',
    );
    assert.equal(offsetString(overlap, 'America/New_York'), '-0400');
    assert.equal(offsetString(overlap + 3600, 'America/New_York'), '-0500');
  });
});

describe('CLI schedule options (SPEC.md 3.6, decision 8)', () => {
  const ctx = { now: 1795348414, timeZone: 'UTC' };
  it('now --hourly 6 gives the example of SPEC.md 3.6', () => {
    assert.equal(
      scheduleTemplate({ schedule: 'now', hourly: '6' }, ctx).template,
      'SCHED_ACTION = [TIME = 1795348414, REPEAT = 3, DAYS = "6", END_TYPE = 0]\n',
    );
  });

  it('--end 12 means 12 times (no Date.parse trap); --end DATE is END_TYPE 2', () => {
    assert.match(
      scheduleTemplate({ schedule: 'now', weekly: '1', end: '12' }, ctx).template,
      /END_TYPE = 1, END_VALUE = 12\]/,
    );
    assert.match(
      scheduleTemplate({ schedule: 'now', weekly: '1', end: '2026-12-31' }, ctx).template,
      /END_TYPE = 2, END_VALUE = 1798675200\]/,
    );
    assert.throws(
      () => scheduleTemplate({ schedule: 'now', end: 'soon' }, ctx),
      /whole number of runs .* or an ISO date/,
    );
  });

  it('the first repeat option wins, in weekly, monthly, yearly, hourly order', () => {
    assert.match(
      scheduleTemplate({ schedule: 'now', monthly: '1', hourly: '2' }, ctx).template,
      /REPEAT = 1, DAYS = "1"/,
    );
  });

  it('time specs: ISO with or without offset, MM/DD HH:MM, epoch; relative refused', () => {
    const madrid = { now: ctx.now, timeZone: 'Europe/Madrid' };
    assert.equal(parseTimeSpec('2026-07-01T03:30', madrid), Date.UTC(2026, 6, 1, 1, 30) / 1000);
    assert.equal(parseTimeSpec('2026-01-01T03:30', madrid), Date.UTC(2026, 0, 1, 2, 30) / 1000);
    assert.equal(parseTimeSpec('2026-07-01T03:30Z', madrid), Date.UTC(2026, 6, 1, 3, 30) / 1000);
    assert.equal(parseTimeSpec('2026-07-01 03:30:00+02:00', madrid), Date.UTC(2026, 6, 1, 1, 30) / 1000);
    assert.equal(parseTimeSpec('12/01 02:00', ctx), Date.UTC(2026, 11, 1, 2, 0) / 1000);
    assert.equal(parseTimeSpec('1767603600', ctx), 1767603600);
    assert.throws(() => parseTimeSpec('+3600', ctx), /absolute time/);
    assert.throws(() => parseTimeSpec('next tuesday', ctx), /Error parsing time spec: next tuesday/);
    assert.throws(() => parseTimeSpec('2026-02-30', ctx), /no such date/);
    assert.equal(
      scheduleTemplate({ schedule: '2026-12-01T02:00' }, { now: 0, timeZone: 'America/New_York' })
        .description,
      'backup scheduled at 2026-12-01 02:00:00 -0500',
    );
  });
});
