import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TemplateError } from '../../../core/errors.js';
import { parseSchedAction, updateSchedAction } from '../../../core/schedule/sched-action.js';
import { daySet, type SchedActionOptions } from '../../../core/schedule/sched-action-fields.js';
import { parseTemplate } from '../../../core/template/parser.js';
import type { VectorAttribute } from '../../../core/template/types.js';

const JOB: SchedActionOptions = { forBackupJob: true };

/** `SCHED_ACTION = [ <text> ]` on line 1; sub-key columns count from the `[`. */
function vector(text: string): VectorAttribute {
  const attribute = parseTemplate(`SCHED_ACTION = [ ${text} ]`).attributes[0];
  assert.equal(attribute?.kind, 'vector');
  return attribute;
}

/** `ATTRIBUTE: message` for each problem, or [] when the vector is accepted. */
function problems(text: string | VectorAttribute, options: SchedActionOptions = JOB): string[] {
  try {
    parseSchedAction(typeof text === 'string' ? vector(text) : text, options);
    return [];
  } catch (err) {
    assert.ok(err instanceof TemplateError, String(err));
    return err.problems.map((p) => `${p.attribute}: ${p.message}`);
  }
}

describe('SCHED_ACTION: accepted schedules', () => {
  it('the two schedules of conf/examples/backupjob-incremental.tmpl (SPEC.md 5, examples)', () => {
    const text = readFileSync(
      new URL('../../../../conf/examples/backupjob-incremental.tmpl', import.meta.url),
      'utf8',
    );
    const scheds = parseTemplate(text).attributes.filter(
      (a): a is VectorAttribute => a.kind === 'vector' && a.name === 'SCHED_ACTION',
    );
    assert.deepEqual(
      scheds.map((v) => parseSchedAction(v, JOB)),
      [
        {
          time: 1767236400,
          repeat: 0,
          days: '1,4',
          endType: 0,
          endValue: -1,
          warning: 0,
          action: 'backup',
          args: '',
          interval: '',
          cron: '',
          anchor: 1767236400,
        },
        {
          time: 1767225600,
          repeat: 3,
          days: '12',
          endType: 1,
          endValue: 10,
          warning: 0,
          action: 'backup',
          args: '',
          interval: '',
          cron: '',
          anchor: 1767225600,
        },
      ],
    );
  });

  it('a one-shot needs only TIME; REPEAT and END_TYPE default to -1', () => {
    assert.deepEqual(parseSchedAction(vector('TIME = 1767225600'), JOB), {
      time: 1767225600,
      repeat: -1,
      days: '',
      endType: -1,
      endValue: -1,
      warning: 0,
      action: 'backup',
      args: '',
      interval: '',
      cron: '',
      anchor: 1767225600,
    });
  });

  it('DAYS is kept as given and checked as the sorted, de-duplicated set', () => {
    const f = parseSchedAction(vector('TIME=1, REPEAT=0, DAYS="5,1,1"'), JOB);
    assert.equal(f.days, '5,1,1');
    assert.deepEqual(daySet(f.days), [1, 5]);
    // Blanks around pieces and empty pieces are skipped, as OpenNebula does.
    assert.equal(parseSchedAction(vector('TIME=1, REPEAT=1, DAYS="1, 15,"'), JOB).days, '1, 15,');
    assert.deepEqual(daySet('1, 15,'), [1, 15]);
  });

  it('the range edges are accepted', () => {
    for (const ok of [
      'REPEAT=0, DAYS="0,6"',
      'REPEAT=1, DAYS="1,31"',
      'REPEAT=2, DAYS="0,365"',
      'REPEAT=3, DAYS="1"',
      'REPEAT=3, DAYS="167"',
      'REPEAT=3, DAYS="6,6"',
    ]) {
      assert.deepEqual(problems(`TIME=1, ${ok}`), [], ok);
    }
  });

  it('for a job ACTION is forced to backup and ARGS is dropped', () => {
    const f = parseSchedAction(vector('TIME=1, ACTION="terminate", ARGS="101,1"'), JOB);
    assert.equal(f.action, 'backup');
    assert.equal(f.args, '');
  });

  it('REPEAT -1 stores DAYS empty; END_TYPE 0 stores END_VALUE -1 (as OpenNebula)', () => {
    const f = parseSchedAction(vector('TIME=1, REPEAT=-1, DAYS="1", END_TYPE=0, END_VALUE=5'), JOB);
    assert.equal(f.days, '');
    assert.equal(f.endValue, -1);
  });

  it('END_TYPE 1 takes 0 runs or more; END_TYPE 2 an epoch; WARNING an epoch', () => {
    assert.equal(
      parseSchedAction(vector('TIME=1, REPEAT=3, DAYS=1, END_TYPE=1, END_VALUE=0'), JOB).endValue,
      0,
    );
    assert.equal(
      parseSchedAction(vector('TIME=1, REPEAT=3, DAYS=1, END_TYPE=2, END_VALUE=1798675200'), JOB).endValue,
      1798675200,
    );
    assert.equal(parseSchedAction(vector('TIME=100, WARNING=40'), JOB).warning, 40);
  });

  it('an empty REPEAT, END_TYPE or WARNING counts as absent', () => {
    assert.deepEqual(parseSchedAction(vector('TIME=1, REPEAT="", END_TYPE="", WARNING=""'), JOB), {
      time: 1,
      repeat: -1,
      days: '',
      endType: -1,
      endValue: -1,
      warning: 0,
      action: 'backup',
      args: '',
      interval: '',
      cron: '',
      anchor: 1,
    });
  });
});

describe('SCHED_ACTION: every message (SPEC.md 5.2 with the Product rules)', () => {
  const table: readonly (readonly [string, string])[] = [
    // TIME
    ['REPEAT=-1', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: '],
    ['TIME=""', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: '],
    ['TIME="abc"', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: abc'],
    ['TIME="12abc"', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: 12abc'],
    ['TIME="1.5"', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: 1.5'],
    ['TIME="-5"', 'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: -5'],
    [
      'TIME="99999999999999"',
      'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: 99999999999999',
    ],
    [
      'TIME="+3600"',
      'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: +3600 (backup jobs need an absolute time in epoch seconds, not +N)',
    ],
    // WARNING
    ['TIME=1, WARNING="soon"', 'SCHED_ACTION/WARNING: Unable to parse the warning value: soon'],
    [
      'TIME=1, WARNING="+60"',
      'SCHED_ACTION/WARNING: Unable to parse the warning value: +60 (backup jobs need an absolute time in epoch seconds, not +N)',
    ],
    // REPEAT: out of range, and (Product) not an integer
    ['TIME=1, REPEAT=4, DAYS=1', 'SCHED_ACTION/REPEAT: Wrong REPEAT value: 4'],
    ['TIME=1, REPEAT=-2, DAYS=1', 'SCHED_ACTION/REPEAT: Wrong REPEAT value: -2'],
    ['TIME=1, REPEAT="weekly", DAYS=1', 'SCHED_ACTION/REPEAT: Wrong REPEAT value: weekly'],
    ['TIME=1, REPEAT="1.0", DAYS=1', 'SCHED_ACTION/REPEAT: Wrong REPEAT value: 1.0'],
    // DAYS missing or empty
    ['TIME=1, REPEAT=0', 'SCHED_ACTION/DAYS: Repeat set, but DAYS are empty'],
    ['TIME=1, REPEAT=0, DAYS=""', 'SCHED_ACTION/DAYS: Scheduled Action repeat set, but DAYS are empty'],
    ['TIME=1, REPEAT=0, DAYS=","', 'SCHED_ACTION/DAYS: Scheduled Action repeat set, but DAYS are empty'],
    // DAYS ranges
    ['TIME=1, REPEAT=0, DAYS="7"', 'SCHED_ACTION/DAYS: Days in a week have to be in [0,6] range'],
    ['TIME=1, REPEAT=0, DAYS="-1,3"', 'SCHED_ACTION/DAYS: Days in a week have to be in [0,6] range'],
    ['TIME=1, REPEAT=1, DAYS="0"', 'SCHED_ACTION/DAYS: Days in a month have to be in [1,31] range'],
    ['TIME=1, REPEAT=1, DAYS="1,32"', 'SCHED_ACTION/DAYS: Days in a month have to be in [1,31] range'],
    ['TIME=1, REPEAT=2, DAYS="366"', 'SCHED_ACTION/DAYS: Days in a year have to be in [0,365] range'],
    ['TIME=1, REPEAT=3, DAYS="0"', 'SCHED_ACTION/DAYS: Hours have to be in [1,167] range'],
    ['TIME=1, REPEAT=3, DAYS="168"', 'SCHED_ACTION/DAYS: Hours have to be in [1,167] range'],
    [
      'TIME=1, REPEAT=3, DAYS="6,12"',
      'SCHED_ACTION/DAYS: Hourly repeat takes one value, the period in hours in [1,167] range, not a list: 6,12',
    ],
    // DAYS (Product): pieces that are not integers
    [
      'TIME=1, REPEAT=0, DAYS="1,x"',
      'SCHED_ACTION/DAYS: DAYS="1,x": x is not a whole number; give numbers separated by commas, e.g. "1,4"',
    ],
    [
      'TIME=1, REPEAT=1, DAYS="mon,2.5,3"',
      'SCHED_ACTION/DAYS: DAYS="mon,2.5,3": mon, 2.5 are not whole numbers; give numbers separated by commas, e.g. "1,4"',
    ],
    // END_TYPE: out of range, and (Product) not an integer
    ['TIME=1, END_TYPE=3', 'SCHED_ACTION/END_TYPE: Wrong END_TYPE value: 3'],
    ['TIME=1, END_TYPE=-2', 'SCHED_ACTION/END_TYPE: Wrong END_TYPE value: -2'],
    ['TIME=1, END_TYPE="never"', 'SCHED_ACTION/END_TYPE: Wrong END_TYPE value: never'],
    // END_VALUE
    [
      'TIME=1, REPEAT=3, DAYS=1, END_TYPE=1, END_VALUE=-1',
      'SCHED_ACTION/END_VALUE: Error parsing END_VALUE, times has to be greater or equal to 0',
    ],
    [
      'TIME=1, REPEAT=3, DAYS=1, END_TYPE=1, END_VALUE="ten"',
      'SCHED_ACTION/END_VALUE: Error parsing END_VALUE, times has to be greater or equal to 0',
    ],
    [
      'TIME=1, REPEAT=3, DAYS=1, END_TYPE=2, END_VALUE="2026-12-31"',
      'SCHED_ACTION/END_VALUE: Error parsing END_VALUE, wrong format for date.',
    ],
    [
      'TIME=1, REPEAT=3, DAYS=1, END_TYPE=2, END_VALUE=-5',
      'SCHED_ACTION/END_VALUE: Error parsing END_VALUE, wrong format for date.',
    ],
    // (Product) END_TYPE 1 or 2 with END_VALUE missing
    [
      'TIME=1, REPEAT=3, DAYS=1, END_TYPE=1',
      'SCHED_ACTION/END_VALUE: END_TYPE 1 needs END_VALUE: the number of runs',
    ],
    [
      'TIME=1, REPEAT=3, DAYS=1, END_TYPE=2, END_VALUE=""',
      'SCHED_ACTION/END_VALUE: END_TYPE 2 needs END_VALUE: the end date in epoch seconds',
    ],
  ];
  for (const [input, message] of table) {
    it(input, () => assert.deepEqual(problems(input), [message]));
  }

  it('every problem of one vector is reported at once, each at its sub-key', () => {
    const v = parseTemplate(
      [
        'SCHED_ACTION = [',
        '  TIME = "+5",',
        '  REPEAT = "0",',
        '  DAYS = "9",',
        '  END_TYPE = "1" ]',
        '',
      ].join('\n'),
    ).attributes[0] as VectorAttribute;
    try {
      parseSchedAction(v, JOB);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof TemplateError);
      assert.deepEqual(
        err.problems.map((p) => [p.line, p.column, p.attribute]),
        [
          [2, 3, 'SCHED_ACTION/TIME'],
          [4, 3, 'SCHED_ACTION/DAYS'],
          // END_VALUE is missing: the problem points at END_TYPE, which needs it.
          [5, 3, 'SCHED_ACTION/END_VALUE'],
        ],
      );
      assert.equal(
        err.message,
        [
          'template line 2, col 3 (SCHED_ACTION/TIME): Unable to parse the time value or value is empty: +5 (backup jobs need an absolute time in epoch seconds, not +N)',
          'template line 4, col 3 (SCHED_ACTION/DAYS): Days in a week have to be in [0,6] range',
          'template line 5, col 3 (SCHED_ACTION/END_VALUE): END_TYPE 1 needs END_VALUE: the number of runs',
        ].join('\n'),
      );
    }
  });

  it('a missing TIME and missing DAYS are both reported; DAYS is not checked under a wrong REPEAT', () => {
    assert.deepEqual(problems('REPEAT=0'), [
      'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: ',
      'SCHED_ACTION/DAYS: Repeat set, but DAYS are empty',
    ]);
    assert.deepEqual(problems('TIME=1, REPEAT=9, DAYS="x"'), ['SCHED_ACTION/REPEAT: Wrong REPEAT value: 9']);
  });
});

describe('SCHED_ACTION for VM actions (forBackupJob: false)', () => {
  const VM: SchedActionOptions = { forBackupJob: false, origin: 1_000_000 };
  it('relative +N counts from the origin; ACTION and ARGS are kept', () => {
    const f = parseSchedAction(vector('ACTION="backup", ARGS="101,1", TIME="+3600", WARNING="+60"'), VM);
    assert.equal(f.time, 1_003_600);
    assert.equal(f.warning, 1_000_060);
    assert.equal(f.action, 'backup');
    assert.equal(f.args, '101,1');
  });
  it('ACTION is required and must be one OpenNebula schedules', () => {
    assert.deepEqual(problems('TIME=1', VM), [
      'SCHED_ACTION/ACTION: No ACTION in template for Scheduled Action.',
    ]);
    assert.deepEqual(problems('TIME=1, ACTION="explode"', VM), [
      'SCHED_ACTION/ACTION: explode is not supported.',
    ]);
  });
});

describe('schedupdate (updateSchedAction)', () => {
  const base = parseSchedAction(vector('REPEAT=3, DAYS=1, END_TYPE=1, END_VALUE=4, TIME=1695478500'), JOB);
  const update = (text: string) => {
    try {
      return updateSchedAction(base, vector(text));
    } catch (err) {
      assert.ok(err instanceof TemplateError);
      return err.problems.map((p) => `${p.attribute}: ${p.message}`);
    }
  };

  it('changes only the sub-keys given', () => {
    assert.deepEqual(update('DAYS="5"'), { ...base, days: '5' });
    assert.deepEqual(update('TIME=1700000000'), { ...base, time: 1700000000, anchor: 1700000000 });
    assert.deepEqual(update('END_VALUE=2'), { ...base, endValue: 2 });
    assert.deepEqual(update('REPEAT=3, END_TYPE=1'), base);
  });

  it('re-checks the result as a whole', () => {
    assert.deepEqual(update('DAYS="200"'), ['SCHED_ACTION/DAYS: Hours have to be in [1,167] range']);
    assert.deepEqual(update('TIME="+60"'), [
      'SCHED_ACTION/TIME: Unable to parse the time value or value is empty: +60 (backup jobs need an absolute time in epoch seconds, not +N)',
    ]);
  });

  it('a new REPEAT kind needs DAYS, a new END_TYPE 1/2 needs END_VALUE', () => {
    assert.deepEqual(update('REPEAT=0'), [
      'SCHED_ACTION/DAYS: REPEAT changes from 3 to 0: give DAYS as well',
    ]);
    assert.deepEqual(update('END_TYPE=2'), [
      'SCHED_ACTION/END_VALUE: END_TYPE changes from 1 to 2: give END_VALUE as well',
    ]);
    assert.deepEqual(update('REPEAT=0, DAYS="1,4"'), { ...base, repeat: 0, days: '1,4' });
    assert.deepEqual(update('END_TYPE=0'), { ...base, endType: 0, endValue: -1 });
    assert.deepEqual(update('REPEAT=-1'), { ...base, repeat: -1, days: '' });
  });

  it('a missing DAYS or END_VALUE is reported where REPEAT or END_TYPE stands', () => {
    const at = (text: string) => {
      try {
        updateSchedAction(base, vector(text));
        return [];
      } catch (err) {
        assert.ok(err instanceof TemplateError);
        return err.problems.map((p) => [p.line, p.column, p.attribute]);
      }
    };
    // `SCHED_ACTION = [ ` is 17 characters: the first sub-key is at column 18.
    assert.deepEqual(at('REPEAT=0'), [[1, 18, 'SCHED_ACTION/DAYS']]);
    assert.deepEqual(at('TIME=5, END_TYPE=2'), [[1, 26, 'SCHED_ACTION/END_VALUE']]);
  });
});
