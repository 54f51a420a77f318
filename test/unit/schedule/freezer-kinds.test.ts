import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TemplateError } from '../../../core/errors.js';
import { nextCronMatch, parseCron } from '../../../core/schedule/cron.js';
import { parseInterval } from '../../../core/schedule/interval.js';
import { parseSchedAction, updateSchedAction } from '../../../core/schedule/sched-action.js';
import type { ParsedSchedAction, SchedActionOptions } from '../../../core/schedule/sched-action-fields.js';
import { ScheduleSyntaxError } from '../../../core/schedule/syntax-error.js';
import { parseTemplate } from '../../../core/template/parser.js';
import type { VectorAttribute } from '../../../core/template/types.js';

const utc = (...a: [number, number, number, number?, number?, number?]) =>
  Date.UTC(a[0], a[1] - 1, a[2], a[3] ?? 0, a[4] ?? 0, a[5] ?? 0) / 1000;

/** Thu 2026-01-01 12:00 UTC. */
const NOW = utc(2026, 1, 1, 12);
const JOB: SchedActionOptions = { forBackupJob: true, now: NOW, timeZone: 'UTC' };
const MADRID: SchedActionOptions = { ...JOB, timeZone: 'Europe/Madrid' };

function vector(text: string): VectorAttribute {
  const attribute = parseTemplate(`SCHED_ACTION = [ ${text} ]`).attributes[0];
  assert.equal(attribute?.kind, 'vector');
  return attribute;
}

/** The parsed fields, or `ATTRIBUTE: message` for each problem. */
function parse(text: string, options: SchedActionOptions = JOB): ParsedSchedAction | string[] {
  try {
    return parseSchedAction(vector(text), options);
  } catch (err) {
    assert.ok(err instanceof TemplateError, String(err));
    return err.problems.map((p) => `${p.attribute}: ${p.message}`);
  }
}

function accepted(text: string, options: SchedActionOptions = JOB): ParsedSchedAction {
  const out = parse(text, options);
  assert.ok(!Array.isArray(out), `refused: ${JSON.stringify(out)}`);
  return out;
}

function syntaxMessage(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    assert.ok(err instanceof ScheduleSyntaxError, String(err));
    return err.message;
  }
  assert.fail('accepted');
}

describe('INTERVAL sub-key', () => {
  it('N minutes|hours|days|weeks, singular too, any case; stored as given', () => {
    assert.deepEqual(parseInterval('6 hours'), { count: 6, unit: 'hours' });
    assert.deepEqual(parseInterval('1 day'), { count: 1, unit: 'days' });
    assert.deepEqual(parseInterval(' 2  Weeks '), { count: 2, unit: 'weeks' });
    assert.deepEqual(parseInterval('30 minute'), { count: 30, unit: 'minutes' });
    const f = accepted('INTERVAL = "6 hours", TIME = 1767225600');
    assert.equal(f.interval, '6 hours');
    assert.equal(f.time, 1767225600);
    assert.equal(f.repeat, -1);
    assert.equal(f.endType, -1);
  });

  it('without START or TIME it starts now; START is read in the configured zone; END becomes END_TYPE 2', () => {
    assert.equal(accepted('INTERVAL = "1 day"').time, NOW);
    const f = accepted('INTERVAL = "1 day", START = "2026-07-01T03:30", END = "2026-12-31"', MADRID);
    assert.equal(f.time, utc(2026, 7, 1, 1, 30));
    assert.equal(f.anchor, f.time);
    assert.equal(f.endType, 2);
    assert.equal(f.endValue, utc(2026, 12, 30, 23));
    assert.equal(
      accepted('INTERVAL = "1 day", START = "1767225600", END = "2026-01-02T00:00Z"').endValue,
      utc(2026, 1, 2),
    );
    assert.equal(accepted('INTERVAL = "1 day", END_TYPE = 1, END_VALUE = 5').endValue, 5);
  });

  it('refusals say what is wrong', () => {
    const table: readonly (readonly [string, string])[] = [
      [
        'INTERVAL = "0 hours"',
        'SCHED_ACTION/INTERVAL: INTERVAL="0 hours": the count "0" has to be a whole number of 1 or more',
      ],
      [
        'INTERVAL = "-2 hours"',
        'SCHED_ACTION/INTERVAL: INTERVAL="-2 hours": the count "-2" has to be a whole number of 1 or more',
      ],
      [
        'INTERVAL = "six hours"',
        'SCHED_ACTION/INTERVAL: INTERVAL="six hours": the count "six" has to be a whole number of 1 or more',
      ],
      [
        'INTERVAL = "6 fortnights"',
        'SCHED_ACTION/INTERVAL: INTERVAL="6 fortnights": unknown unit "fortnights"; use minutes, hours, days or weeks (singular too)',
      ],
      [
        'INTERVAL = "6"',
        'SCHED_ACTION/INTERVAL: INTERVAL="6": write "N minutes", "N hours", "N days" or "N weeks" (e.g. "6 hours")',
      ],
      [
        'INTERVAL = "6000 weeks"',
        'SCHED_ACTION/INTERVAL: INTERVAL="6000 weeks": the step is longer than 100 years',
      ],
      [
        'INTERVAL = "1 day", START = "tomorrow"',
        'SCHED_ACTION/START: START="tomorrow": give an ISO date (2026-12-01, 2026-12-01T02:00, optionally with Z or +01:00) or epoch seconds',
      ],
      [
        'INTERVAL = "1 day", START = "2026-02-30"',
        'SCHED_ACTION/START: START="2026-02-30": give an ISO date (2026-12-01, 2026-12-01T02:00, optionally with Z or +01:00) or epoch seconds',
      ],
      [
        'INTERVAL = "1 day", START = "2026-02-01", TIME = 1',
        'SCHED_ACTION/START: give TIME or START, not both: they are the same thing',
      ],
      [
        'INTERVAL = "1 day", END = "2026-12-31", END_TYPE = 0',
        'SCHED_ACTION/END: give END or END_TYPE/END_VALUE, not both',
      ],
      [
        'INTERVAL = "1 day", START = "2026-06-01", END = "2026-05-01"',
        'SCHED_ACTION/END: END="2026-05-01" is before the first run at 2026-06-01T00:00:00.000Z, so the schedule would never run',
      ],
      [
        'TIME = 1, START = "2026-06-01"',
        'SCHED_ACTION/START: START goes with INTERVAL or CRON; a schedule with REPEAT starts at TIME',
      ],
      [
        'TIME = 1, REPEAT = 0, DAYS = "1", END = "2026-06-01"',
        'SCHED_ACTION/END: END goes with INTERVAL or CRON; a schedule with REPEAT ends with END_TYPE and END_VALUE',
      ],
      [
        'TIME = 1, REPEAT = 3, DAYS = "6", INTERVAL = "6 hours"',
        'SCHED_ACTION/INTERVAL: INTERVAL, CRON and REPEAT are mutually exclusive: this schedule gives REPEAT and INTERVAL; keep one',
      ],
      [
        'INTERVAL = "6 hours", CRON = "0 3 * * *"',
        'SCHED_ACTION/CRON: INTERVAL, CRON and REPEAT are mutually exclusive: this schedule gives INTERVAL and CRON; keep one',
      ],
    ];
    for (const [text, message] of table) assert.deepEqual(parse(text), [message], text);
  });

  it('REPEAT = -1 is no repeat, so it does not conflict', () => {
    assert.equal(accepted('INTERVAL = "6 hours", REPEAT = -1').interval, '6 hours');
  });

  it('errors point at the sub-key: line and column', () => {
    try {
      parseSchedAction(
        parseTemplate('SCHED_ACTION = [\n  TIME = 1,\n  INTERVAL = "0 days" ]')
          .attributes[0] as VectorAttribute,
        JOB,
      );
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof TemplateError);
      assert.deepEqual(
        err.problems.map((p) => [p.line, p.column, p.attribute]),
        [[3, 3, 'SCHED_ACTION/INTERVAL']],
      );
    }
  });

  it('a caller that gives no `now` cannot start an INTERVAL "now"', () => {
    assert.throws(
      () => parseSchedAction(vector('INTERVAL = "1 day"'), { forBackupJob: true }),
      /options\.now is needed/,
    );
  });
});

describe('CRON sub-key', () => {
  it('TIME is optional: the first match after now, in the configured zone', () => {
    const f = accepted('CRON = "0 3 * * 1-5"');
    // Thu 2026-01-01 12:00 UTC -> Fri 02 03:00 UTC.
    assert.equal(f.time, utc(2026, 1, 2, 3));
    assert.equal(f.cron, '0 3 * * 1-5');
    assert.equal(accepted('CRON = "0 3 * * 1-5"', MADRID).time, utc(2026, 1, 2, 2));
  });

  it('with TIME (or START) the first run is the first match at or after it', () => {
    assert.equal(accepted(`CRON = "0 3 * * *", TIME = ${utc(2026, 3, 1, 3)}`).time, utc(2026, 3, 1, 3));
    assert.equal(accepted(`CRON = "0 3 * * *", TIME = ${utc(2026, 3, 1, 3, 1)}`).time, utc(2026, 3, 2, 3));
    assert.equal(accepted('CRON = "0 3 * * SAT", START = "2026-03-01"').time, utc(2026, 3, 7, 3));
  });

  it('refusals name the field and say why', () => {
    const table: readonly (readonly [string, string])[] = [
      [
        '0 3 * *',
        '4 fields where cron needs 5: minute hour day-of-month month day-of-week, e.g. "0 3 * * 1-5"',
      ],
      [
        '0 3 * * * *',
        '6 fields where cron needs 5: minute hour day-of-month month day-of-week, e.g. "0 3 * * 1-5"',
      ],
      ['61 * * * *', 'minute field "61": 61 is out of range 0-59'],
      ['0 25 * * *', 'hour field "25": 25 is out of range 0-23'],
      ['0 0 0 * *', 'day-of-month field "0": 0 is out of range 1-31'],
      ['0 0 * 13 *', 'month field "13": 13 is out of range 1-12'],
      ['0 0 * * 8', 'day-of-week field "8": 8 is out of range 0-7'],
      ['0 0 * * MON-FOO', 'day-of-week field "MON-FOO": "FOO" is not a number or a name (SUN-SAT)'],
      ['0 0 * FOO *', 'month field "FOO": "FOO" is not a number or a name (JAN-DEC)'],
      ['x 0 * * *', 'minute field "x": "x" is not a number'],
      ['*/0 * * * *', 'minute field "*/0": the step "0" has to be a whole number of 1 or more'],
      ['0 5-2 * * *', 'hour field "5-2": the range 5-2 starts after it ends; write it in increasing order'],
      ['0 1,,2 * * *', 'hour field "1,,2": an empty item in the list'],
      ['0 */2/3 * * *', 'hour field "*/2/3": more than one "/" in "*/2/3"'],
      ['0 0 30 2 *', 'day-of-month field "30" never falls in month field "2": the expression never matches'],
      [
        '0 0 31 4,6,9,11 *',
        'day-of-month field "31" never falls in month field "4,6,9,11": the expression never matches',
      ],
      [
        '@every',
        'unknown macro @every; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or 5 fields',
      ],
    ];
    for (const [cron, message] of table) {
      assert.equal(
        syntaxMessage(() => parseCron(cron)),
        message,
        cron,
      );
      assert.deepEqual(parse(`CRON = "${cron}"`), [`SCHED_ACTION/CRON: ${message}`], cron);
    }
  });

  it('CRON and REPEAT are mutually exclusive', () => {
    assert.deepEqual(parse('TIME = 1, REPEAT = 0, DAYS = "1", CRON = "0 3 * * *"'), [
      'SCHED_ACTION/CRON: INTERVAL, CRON and REPEAT are mutually exclusive: this schedule gives REPEAT and CRON; keep one',
    ]);
  });
});

describe('cron evaluation', () => {
  const next = (cron: string, after: number, zone = 'UTC') => {
    const at = nextCronMatch(parseCron(cron), after, zone);
    return at === undefined ? 'none' : new Date(at * 1000).toISOString().slice(0, 16);
  };

  it('ranges, lists, steps, names, 7 = Sunday', () => {
    assert.equal(next('*/15 * * * *', utc(2026, 1, 1, 12, 7)), '2026-01-01T12:15');
    assert.equal(next('5,35 */6 * * *', utc(2026, 1, 1, 12, 7)), '2026-01-01T12:35');
    assert.equal(next('5,35 */6 * * *', utc(2026, 1, 1, 12, 36)), '2026-01-01T18:05');
    assert.equal(next('0 8-10/2 * * *', utc(2026, 1, 1, 8, 30)), '2026-01-01T10:00');
    assert.equal(next('0 0 * * 7', utc(2026, 1, 1)), '2026-01-04T00:00');
    assert.equal(next('0 0 * * sun', utc(2026, 1, 1)), '2026-01-04T00:00');
    assert.equal(next('0 0 1 jul-aug *', utc(2026, 1, 1)), '2026-07-01T00:00');
    assert.equal(next('0 0 10/10 * *', utc(2026, 1, 1)), '2026-01-10T00:00');
    assert.equal(next('@monthly', utc(2026, 1, 1)), '2026-02-01T00:00');
  });

  it('day-of-month and day-of-week both restricted: either matches (Vixie); one with * : both', () => {
    // 13th or a Friday: Fri 2 Jan 2026 comes first.
    assert.equal(next('0 0 13 * 5', utc(2026, 1, 1)), '2026-01-02T00:00');
    // Every other day of the month that is also a Friday: day-of-month starts with *, so AND.
    assert.equal(next('0 0 */2 * 5', utc(2026, 1, 1)), '2026-01-09T00:00');
  });

  it('29 Feb only: the next leap year, across the non-leap 2100', () => {
    assert.equal(next('0 0 29 2 *', utc(2026, 3, 1)), '2028-02-29T00:00');
    assert.equal(next('0 0 29 2 *', utc(2096, 3, 1)), '2104-02-29T00:00');
  });

  it('strictly after `after`', () => {
    assert.equal(next('0 3 * * *', utc(2026, 1, 1, 3)), '2026-01-02T03:00');
  });
});

describe('sched-update across kinds', () => {
  const interval = accepted(`INTERVAL = "6 hours", TIME = ${utc(2026, 1, 5)}`);

  it('keeps INTERVAL when other sub-keys change; a new kind replaces the old one', () => {
    assert.equal(updateSchedAction(interval, vector('END_TYPE = 1, END_VALUE = 3'), JOB).interval, '6 hours');
    const weekly = updateSchedAction(interval, vector('REPEAT = 0, DAYS = "1"'), JOB);
    assert.equal(weekly.interval, '');
    assert.equal(weekly.repeat, 0);
    const cron = updateSchedAction(interval, vector('CRON = "0 3 * * *"'), JOB);
    assert.equal(cron.interval, '');
    assert.equal(cron.cron, '0 3 * * *');
    // A new CRON starts from now, not from the old TIME.
    assert.equal(cron.time, utc(2026, 1, 2, 3));
    const back = updateSchedAction(weekly, vector('INTERVAL = "1 day"'), JOB);
    assert.equal(back.repeat, -1);
    assert.equal(back.days, '');
    assert.equal(back.interval, '1 day');
  });

  it('the anchor stays unless the start or the kind changes', () => {
    const stored = { ...interval, anchor: utc(2026, 1, 1, 2, 30) };
    assert.equal(updateSchedAction(stored, vector('END_TYPE = 0'), JOB).anchor, utc(2026, 1, 1, 2, 30));
    assert.equal(updateSchedAction(stored, vector(`TIME = ${utc(2026, 2, 1)}`), JOB).anchor, utc(2026, 2, 1));
  });
});
