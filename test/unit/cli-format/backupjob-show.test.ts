import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SchedAction } from '../../../cli/format/backupjob-doc.js';
import { parseBackupJobXml } from '../../../cli/format/backupjob-doc-pull.js';
import {
  endLabel,
  formatBackupJob,
  formatSchedActions,
  lockLabel,
  repeatLabel,
  rubyFloatToS,
  rubyRound,
  schedStatus,
} from '../../../cli/format/backupjob-show.js';
import { job2Xml, NOW_OVERDUE, SCHED3, SCHED3_TIME, SCHED4 } from './fixtures.js';

/** SPEC.md 3.4 "Real output", with the trailing blanks of `%-80s`, `%-15s: %-20s` and the table header. */
const REAL_OUTPUT = [
  'BACKUP JOB 2 INFORMATION                                                        ',
  'ID             : 2                   ',
  'NAME           : Private Services    ',
  'USER           : oneadmin            ',
  'GROUP          : oneadmin            ',
  'LOCK           : None                ',
  'PERMISSIONS                                                                     ',
  'OWNER          : um-                 ',
  'GROUP          : ---                 ',
  'OTHER          : ---                 ',
  '',
  'LAST BACKUP JOB EXECUTION INFORMATION                                           ',
  'TIME           : 01/05 08:00:00      ',
  'DURATION       :   0d 00h00m19s      ',
  '',
  'VIRTUAL MACHINE BACKUP STATUS                                                   ',
  'UPDATED        : 158                 ',
  'OUTDATED       : 162                 ',
  'ONGOING        : 159                 ',
  'ERROR          :                     ',
  '',
  'SCHEDULED ACTIONS                                                               ',
  '   ID ACTION  ARGS   SCHEDULED        REPEAT            END STATUS                                            ',
  '    3 backup     - 01/05 09:00    Weekly 1,5           None Overdue!',
  '    4 backup     - 01/01 00:00 Each 12 hours After 10 times Error! Thu Jan  1 00:00:15 2026 : Unable to execut',
  '',
  'TEMPLATE CONTENTS                                                               ',
  'BACKUP_VMS="158,159,162"',
  'BACKUP_VOLATILE="NO"',
  'DATASTORE_ID="100"',
  'EXECUTION="SEQUENTIAL"',
  'FS_FREEZE="NONE"',
  'KEEP_LAST="4"',
  'MODE="FULL"',
  '',
].join('\n');

/** The same block as SPEC.md prints it (trailing blanks lost in the page). */
const SPEC_BLOCK = `BACKUP JOB 2 INFORMATION
ID             : 2
NAME           : Private Services
USER           : oneadmin
GROUP          : oneadmin
LOCK           : None
PERMISSIONS
OWNER          : um-
GROUP          : ---
OTHER          : ---

LAST BACKUP JOB EXECUTION INFORMATION
TIME           : 01/05 08:00:00
DURATION       :   0d 00h00m19s

VIRTUAL MACHINE BACKUP STATUS
UPDATED        : 158
OUTDATED       : 162
ONGOING        : 159
ERROR          :

SCHEDULED ACTIONS
   ID ACTION  ARGS   SCHEDULED        REPEAT            END STATUS
    3 backup     - 01/05 09:00    Weekly 1,5           None Overdue!
    4 backup     - 01/01 00:00 Each 12 hours After 10 times Error! Thu Jan  1 00:00:15 2026 : Unable to execut

TEMPLATE CONTENTS
BACKUP_VMS="158,159,162"
BACKUP_VOLATILE="NO"
DATASTORE_ID="100"
EXECUTION="SEQUENTIAL"
FS_FREEZE="NONE"
KEEP_LAST="4"
MODE="FULL"
`;

const show = (xml: string, now = NOW_OVERDUE, tty = false) =>
  formatBackupJob(parseBackupJobXml(xml), { now, timeZone: 'UTC', tty });

const sa = (over: Partial<SchedAction> = {}): SchedAction => ({
  id: 3,
  parentId: 2,
  type: 'BACKUPJOB',
  action: 'backup',
  args: '',
  time: SCHED3_TIME,
  repeat: 0,
  days: '1,5',
  endType: 0,
  endValue: -1,
  done: -1,
  message: '',
  warning: 0,
  ...over,
});

describe('onebackupjob show: SPEC.md 3.4 real output', () => {
  it('is reproduced byte for byte (TZ=UTC, now = schedule 3 TIME, not a TTY)', () => {
    assert.equal(show(job2Xml()), REAL_OUTPUT);
  });

  it('matches the block printed in SPEC.md once trailing blanks are dropped', () => {
    const trimmed = show(job2Xml())
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n');
    assert.equal(trimmed, SPEC_BLOCK);
  });

  it('one second before schedule 3 is due, it is not yet Overdue!', () => {
    assert.match(show(job2Xml(), NOW_OVERDUE - 1), /\n {4}3 backup .* None Next in 0\.02 minutes\n/);
    assert.match(show(job2Xml(), NOW_OVERDUE + 3600), / None Overdue!\n/);
  });

  it('on a TTY headers are bold, underlined except PERMISSIONS, SCHEDULED ACTIONS, TEMPLATE CONTENTS', () => {
    const out = show(job2Xml(), NOW_OVERDUE, true);
    const b = (t: string, u: boolean) => `\u001b[1m${u ? '\u001b[4m' : ''}${t.padEnd(80)}\u001b[0m\n`;
    assert.ok(out.startsWith(b('BACKUP JOB 2 INFORMATION', true)));
    assert.ok(out.includes(b('PERMISSIONS', false)));
    assert.ok(out.includes(b('LAST BACKUP JOB EXECUTION INFORMATION', true)));
    assert.ok(out.includes(b('VIRTUAL MACHINE BACKUP STATUS', true)));
    assert.ok(out.includes(b('SCHEDULED ACTIONS', false)));
    assert.ok(out.includes(b('TEMPLATE CONTENTS', false)));
    // The schedule table's own header is ShowTable's: bold and underlined, not padded to 80.
    assert.ok(
      out.includes(
        `\u001b[1m\u001b[4m${'   ID ACTION  ARGS   SCHEDULED        REPEAT            END STATUS'.padEnd(110)}\u001b[0m\n`,
      ),
    );
  });

  it('LOCK labels; no SCHEDULED ACTIONS block without schedules; TIME `-` when never run', () => {
    const lock = (level: number) =>
      `<LOCK><LOCKED>${level}</LOCKED><OWNER>0</OWNER><TIME>1767600000</TIME><REQ_ID>7</REQ_ID></LOCK>`;
    assert.match(show(job2Xml([], lock(2))), /\nLOCK {11}: Manage {14}\n/);
    assert.deepEqual([0, 1, 2, 3, 4, 5, undefined].map(lockLabel), [
      'None',
      'Use',
      'Manage',
      'Admin',
      'All',
      '-',
      'None',
    ]);
    const plain = show(job2Xml([]));
    assert.doesNotMatch(plain, /SCHEDULED ACTIONS/);
    assert.match(plain, /ERROR {10}: {21}\n\nTEMPLATE CONTENTS {63}\n/);
    const never = job2Xml([]).replace('<LAST_BACKUP_TIME>1767600000<', '<LAST_BACKUP_TIME>0<');
    assert.match(show(never), /\nTIME {11}: - {19}\n/);
  });

  it('DURATION is %3dd %02dh%02dm%02ds', () => {
    const d = (s: number) =>
      show(job2Xml([]).replace('<LAST_BACKUP_DURATION>19<', `<LAST_BACKUP_DURATION>${s}<`));
    assert.match(d(93784), /\nDURATION {7}: {3}1d 02h03m04s {6}\n/);
    assert.match(d(1234 * 86400), /\nDURATION {7}: 1234d 00h00m00s {5}\n/);
  });

  it('TEMPLATE CONTENTS: sorted, `"` escaped, vectors indented, empty template an empty line', () => {
    const xml = job2Xml([]).replace(
      '<TEMPLATE>',
      '<TEMPLATE><ZLABEL><![CDATA[say "hi"]]></ZLABEL><DESCRIPTION><![CDATA[a\\b]]></DESCRIPTION>' +
        '<HOOK><A><![CDATA[1]]></A><B><![CDATA[2]]></B></HOOK>',
    );
    const tail = show(xml).split('TEMPLATE CONTENTS').at(-1) ?? '';
    assert.equal(
      tail.slice(tail.indexOf('\n') + 1),
      'BACKUP_VMS="158,159,162"\nBACKUP_VOLATILE="NO"\nDATASTORE_ID="100"\nDESCRIPTION="a\\b"\n' +
        'EXECUTION="SEQUENTIAL"\nFS_FREEZE="NONE"\nHOOK=[\n  A="1",\n  B="2" ]\nKEEP_LAST="4"\nMODE="FULL"\n' +
        'ZLABEL="say \\"hi\\""\n',
    );
    const empty = job2Xml([]).replace(/<TEMPLATE>.*<\/TEMPLATE>/, '<TEMPLATE></TEMPLATE>');
    assert.ok(show(empty).endsWith(`${'TEMPLATE CONTENTS'.padEnd(80)}\n\n`));
  });
});

describe('SCHEDULED ACTIONS columns', () => {
  const tz = 'UTC';

  it('STATUS: Done on for a one-shot that ran, else Error!, else Next in days/hours/minutes, else Overdue!', () => {
    assert.equal(schedStatus(sa({ repeat: -1, done: 1767604000 }), NOW_OVERDUE, tz), 'Done on 01/05 09:06');
    // A repeating action that ran shows when it runs next, not Done on.
    assert.equal(
      schedStatus(sa({ done: 1767604000, time: SCHED3_TIME + 7200 }), NOW_OVERDUE, tz),
      'Next in 2.0 hours',
    );
    assert.equal(schedStatus(sa({ message: 'boom' }), NOW_OVERDUE, tz), 'Error! boom');
    const at = (secondsAhead: number) =>
      schedStatus(sa({ time: NOW_OVERDUE + secondsAhead }), NOW_OVERDUE, tz);
    assert.equal(at(2.5 * 86400), 'Next in 2.5 days');
    assert.equal(at(3 * 86400), 'Next in 3.0 days');
    assert.equal(at(86400 + 300), 'Next in 24.08 hours'); // 1.0035 days rounds to 1.0, not > 1
    assert.equal(at(86400), 'Next in 24.0 hours');
    assert.equal(at(3600 + 60), 'Next in 1.02 hours');
    assert.equal(at(3600), 'Next in 60.0 minutes');
    assert.equal(at(90), 'Next in 1.5 minutes');
    assert.equal(at(1), 'Next in 0.02 minutes');
    assert.equal(at(0), 'Overdue!');
    assert.equal(at(-86400), 'Overdue!');
    // Ruby's Time.now has fractions: under 0.3 s to go rounds to 0.0 minutes.
    assert.equal(schedStatus(sa(), SCHED3_TIME - 0.29, tz), 'Overdue!');
    assert.equal(schedStatus(sa(), SCHED3_TIME - 0.31, tz), 'Next in 0.01 minutes');
  });

  it('REPEAT and END labels', () => {
    assert.deepEqual(
      [0, 1, 2, 3, -1].map((repeat) => repeatLabel(sa({ repeat, days: '6' }))),
      ['Weekly 6', 'Monthly 6', 'Yearly 6', 'Each 6 hours', '6'],
    );
    assert.equal(endLabel(sa({ endType: 0 }), tz), 'None');
    assert.equal(endLabel(sa({ endType: 1, endValue: 5 }), tz), 'After 5 times');
    assert.equal(endLabel(sa({ endType: 2, endValue: 1798761600 }), tz), 'On 01/01/27');
    assert.equal(endLabel(sa({ endType: 2, endValue: 0 }), tz), 'On -');
    assert.equal(endLabel(sa({ endType: -1 }), tz), '');
  });

  it('widens the right-aligned columns, cuts STATUS at 50, marks a passed WARNING with *', () => {
    const table = formatSchedActions(
      [
        sa({ id: 12, args: '100,1', warning: NOW_OVERDUE - 60, time: NOW_OVERDUE + 7200 }),
        sa({ id: 4, warning: NOW_OVERDUE - 60, done: 1767600000, repeat: 3, days: '12', endType: -1 }),
        sa({ id: 5, warning: NOW_OVERDUE + 60, message: 'x'.repeat(60) }),
      ],
      { now: NOW_OVERDUE, timeZone: tz },
    );
    assert.equal(
      table,
      `${'   ID ACTION  ARGS   SCHEDULED        REPEAT   END STATUS'.padEnd(101)}\n` +
        '  *12 backup 100,1 01/05 11:00    Weekly 1,5  None Next in 2.0 hours\n' +
        '    4 backup     - 01/05 09:00 Each 12 hours       Overdue!\n' +
        `    5 backup     - 01/05 09:00    Weekly 1,5  None Error! ${'x'.repeat(43)}\n`,
    );
  });

  it('follows the time zone for SCHEDULED and Done on', () => {
    const out = formatSchedActions([sa({ repeat: -1, done: 1767604000 }), sa({ id: 4 })], {
      now: NOW_OVERDUE,
      timeZone: 'Europe/Madrid',
    });
    assert.match(out, /\n {4}3 backup {5}- 01\/05 10:00 {8}1,5 {2}None Done on 01\/05 10:06\n/);
  });
});

describe("Ruby's Float#round(2).to_s", () => {
  it('rounds half away from zero and prints a .0 on whole numbers', () => {
    assert.equal(rubyFloatToS(rubyRound(2.5, 2)), '2.5');
    assert.equal(rubyFloatToS(rubyRound(3, 2)), '3.0');
    assert.equal(rubyFloatToS(rubyRound(1.005, 2)), '1.01'); // x*100 = 100.49999…; Ruby corrects it
    assert.equal(rubyFloatToS(rubyRound(0.125, 2)), '0.13');
    assert.equal(rubyFloatToS(rubyRound(1 / 60, 2)), '0.02');
    assert.equal(rubyFloatToS(rubyRound(-0.125, 2)), '-0.13');
  });
});

describe('SCHED4 fixture', () => {
  it('keeps the full MESSAGE in the document', () => {
    const doc = parseBackupJobXml(job2Xml([SCHED3, SCHED4]));
    assert.equal(doc.schedActions[1]?.message, SCHED4.message);
  });
});
