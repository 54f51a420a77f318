import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupJobColumns, backupJobPoolRows, formatBackupJobShow } from '../../../cli/format/backupjob.js';
import { describeColumns, renderTable } from '../../../cli/format/table.js';
import { prettyXml, xmlToOneJson } from '../../../cli/format/xml-tokens.js';

const sched = (
  id: number,
  time: number,
  repeat: number,
  days: string,
  endType: number,
  endValue: number,
  message = '',
) =>
  `<SCHED_ACTION><ID>${id}</ID><PARENT_ID>2</PARENT_ID><TYPE>BACKUPJOB</TYPE><ACTION>backup</ACTION><ARGS></ARGS>` +
  `<TIME>${time}</TIME><REPEAT>${repeat}</REPEAT><DAYS>${days}</DAYS><END_TYPE>${endType}</END_TYPE>` +
  `<END_VALUE>${endValue}</END_VALUE><DONE>-1</DONE><MESSAGE>${message}</MESSAGE><WARNING>0</WARNING></SCHED_ACTION>`;

const PERMS =
  '<PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A><GROUP_U>0</GROUP_U><GROUP_M>0</GROUP_M>' +
  '<GROUP_A>0</GROUP_A><OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS>';

const cdata = (name: string, v: string) => `<${name}><![CDATA[${v}]]></${name}>`;

/** The job of SPEC.md 2.4 / 3.4, as the daemon writes it. */
const JOB2 =
  '<BACKUPJOB><ID>2</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>' +
  `<NAME>Private Services</NAME>${PERMS}<PRIORITY>50</PRIORITY><LAST_BACKUP_TIME>1767600000</LAST_BACKUP_TIME>` +
  '<LAST_BACKUP_DURATION>19</LAST_BACKUP_DURATION><SCHED_ACTIONS><ID>3</ID><ID>4</ID></SCHED_ACTIONS>' +
  '<UPDATED_VMS><ID>158</ID></UPDATED_VMS><OUTDATED_VMS><ID>162</ID></OUTDATED_VMS>' +
  '<BACKING_UP_VMS><ID>159</ID></BACKING_UP_VMS><ERROR_VMS></ERROR_VMS><TEMPLATE>' +
  cdata('BACKUP_VMS', '158,159,162') +
  cdata('BACKUP_VOLATILE', 'NO') +
  cdata('DATASTORE_ID', '100') +
  cdata('EXECUTION', 'SEQUENTIAL') +
  cdata('FS_FREEZE', 'NONE') +
  cdata('KEEP_LAST', '4') +
  cdata('MODE', 'FULL') +
  sched(3, 1767603600, 0, '1,5', 0, -1) +
  sched(
    4,
    1767225600,
    3,
    '12',
    1,
    10,
    'Thu Jan  1 00:00:15 2026 : Unable to execute Backup Job, pending backups in progress',
  ) +
  '</TEMPLATE></BACKUPJOB>';

const JOB1 =
  '<BACKUPJOB><ID>1</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>' +
  `<NAME>Production A very long name</NAME>${PERMS}<PRIORITY>7</PRIORITY><LAST_BACKUP_TIME>0</LAST_BACKUP_TIME>` +
  '<LAST_BACKUP_DURATION>0</LAST_BACKUP_DURATION><SCHED_ACTIONS></SCHED_ACTIONS><UPDATED_VMS></UPDATED_VMS>' +
  '<OUTDATED_VMS></OUTDATED_VMS><BACKING_UP_VMS></BACKING_UP_VMS><ERROR_VMS></ERROR_VMS><TEMPLATE>' +
  cdata('BACKUP_VMS', '160,157,156,155,154') +
  '</TEMPLATE></BACKUPJOB>';

const h = (text: string) => `${text.padEnd(80)}\n`;
const f = (name: string, value: string) => `${name.padEnd(15)}: ${value.padEnd(20)}\n`;

describe('onebackupjob show (SPEC.md 3.4 real output)', () => {
  it('matches byte for byte', () => {
    const expected =
      h('BACKUP JOB 2 INFORMATION') +
      f('ID', '2') +
      f('NAME', 'Private Services') +
      f('USER', 'oneadmin') +
      f('GROUP', 'oneadmin') +
      f('LOCK', 'None') +
      h('PERMISSIONS') +
      f('OWNER', 'um-') +
      f('GROUP', '---') +
      f('OTHER', '---') +
      '\n' +
      h('LAST BACKUP JOB EXECUTION INFORMATION') +
      f('TIME', '01/05 08:00:00') +
      f('DURATION', '  0d 00h00m19s') +
      '\n' +
      h('VIRTUAL MACHINE BACKUP STATUS') +
      f('UPDATED', '158') +
      f('OUTDATED', '162') +
      f('ONGOING', '159') +
      f('ERROR', '') +
      '\n' +
      h('SCHEDULED ACTIONS') +
      `${'   ID ACTION  ARGS   SCHEDULED        REPEAT            END STATUS'.padEnd(110)}\n` +
      '    3 backup     - 01/05 09:00    Weekly 1,5           None Overdue!\n' +
      '    4 backup     - 01/01 00:00 Each 12 hours After 10 times Error! Thu Jan  1 00:00:15 2026 : Unable to execut\n' +
      '\n' +
      h('TEMPLATE CONTENTS') +
      'BACKUP_VMS="158,159,162"\nBACKUP_VOLATILE="NO"\nDATASTORE_ID="100"\nEXECUTION="SEQUENTIAL"\n' +
      'FS_FREEZE="NONE"\nKEEP_LAST="4"\nMODE="FULL"\n';
    assert.equal(formatBackupJobShow(JOB2, { now: 1767610000, timeZone: 'UTC' }), expected);
  });

  it('says Next in ... for a future schedule, Done on for a finished one-shot, and marks warnings', () => {
    const job = JOB2.replace(
      sched(3, 1767603600, 0, '1,5', 0, -1),
      sched(3, 1767603600 + 3 * 86400, 0, '1,5', 0, -1),
    );
    assert.match(
      formatBackupJobShow(job, { now: 1767603600 + 43200, timeZone: 'UTC' }),
      / Next in 2\.5 days\n/,
    );
    const hours = formatBackupJobShow(job, { now: 1767603600 + 3 * 86400 - 7200, timeZone: 'UTC' });
    assert.match(hours, / Next in 2\.0 hours\n/);
    const done = JOB2.replace('<DONE>-1</DONE>', '<DONE>1767604000</DONE>').replace(
      '<REPEAT>0</REPEAT>',
      '<REPEAT>-1</REPEAT>',
    );
    assert.match(formatBackupJobShow(done, { now: 1767610000, timeZone: 'UTC' }), / Done on 01\/05 09:06\n/);
    const warned = JOB2.replace('<WARNING>0</WARNING>', '<WARNING>1767600000</WARNING>');
    assert.match(formatBackupJobShow(warned, { now: 1767610000, timeZone: 'UTC' }), /\n {3}\*3 backup/);
  });

  it('shows lock levels and hides the schedule block when there is none', () => {
    const locked = JOB1.replace(
      '<PERMISSIONS>',
      '<LOCK><LOCKED>2</LOCKED><OWNER>0</OWNER><TIME>1</TIME><REQ_ID>1</REQ_ID></LOCK><PERMISSIONS>',
    );
    const out = formatBackupJobShow(locked, { now: 0, timeZone: 'UTC' });
    assert.match(out, /\nLOCK {11}: Manage {14}\n/);
    assert.doesNotMatch(out, /SCHEDULED ACTIONS/);
    assert.match(out, /\nTIME {11}: - {19}\n/);
  });
});

describe('onebackupjob list (SPEC.md 3.3 real output)', () => {
  const pool = `<BACKUPJOB_POOL>${JOB2}${JOB1}</BACKUPJOB_POOL>`;
  const columns = backupJobColumns({ timeZone: 'UTC' });

  it('matches byte for byte', () => {
    assert.equal(
      renderTable(columns, backupJobPoolRows(pool)),
      '  ID USER     GROUP    PRIO NAME            LAST            VMS            \n' +
        '   2 oneadmin oneadmin 50   Private Service 01/05/26 08:00  158,159,162\n' +
        '   1 oneadmin oneadmin 7    Production A ve -               160,157,156,...\n',
    );
  });

  it('--csv writes untruncated names and quotes lists', () => {
    assert.equal(
      renderTable(columns, backupJobPoolRows(pool), { csv: true }),
      'ID,USER,GROUP,PRIO,NAME,LAST,VMS\n' +
        '2,oneadmin,oneadmin,50,Private Services,01/05/26 08:00,"158,159,162"\n' +
        '1,oneadmin,oneadmin,7,Production A very long name,-,"160,157,156,..."\n',
    );
  });

  it('-l picks and orders columns; --no-header drops the header', () => {
    assert.equal(
      renderTable(columns, backupJobPoolRows(pool), { list: ['NAME', 'ID', 'PRIO'], noHeader: true }),
      'Private Service    2 50\nProduction A ve    1 7\n',
    );
  });

  it('-f filters on formatted strings with every operator', () => {
    const ids = (filter: string[], operator?: string) =>
      renderTable(columns, backupJobPoolRows(pool), { filter, operator, list: ['ID'], noHeader: true })
        .trim()
        .split('\n')
        .map((s) => s.trim());
    assert.deepEqual(ids(['PRIO=7']), ['1']);
    assert.deepEqual(ids(['PRIO!=7']), ['2']);
    assert.deepEqual(ids(['NAME~Private']), ['2']);
    assert.deepEqual(ids(['PRIO<6']), ['2']);
    assert.deepEqual(ids(['PRIO>=7']), ['1']);
    assert.deepEqual(ids(['PRIO=7', 'NAME~Private'], 'OR'), ['2', '1']);
    assert.throws(() => ids(['NOPE=1']), /Column 'NOPE' not found/);
  });

  it('--describe prints the column descriptions', () => {
    assert.equal(
      describeColumns(columns).split('\n')[0],
      'ID                  : ONE identifier for the Backup Job',
    );
  });
});

describe('-x and -j', () => {
  it('-x pretty prints as Nokogiri: 2 spaces, CDATA kept, empty elements <X/>', () => {
    const out = prettyXml(JOB2);
    assert.ok(out.startsWith('<BACKUPJOB>\n  <ID>2</ID>\n  <UID>0</UID>\n'));
    assert.match(out, /\n {2}<ERROR_VMS\/>\n/);
    assert.match(out, /\n {2}<SCHED_ACTIONS>\n {4}<ID>3<\/ID>\n {4}<ID>4<\/ID>\n {2}<\/SCHED_ACTIONS>\n/);
    assert.match(out, /\n {4}<BACKUP_VMS><!\[CDATA\[158,159,162\]\]><\/BACKUP_VMS>\n/);
    assert.match(out, /\n {6}<ARGS\/>\n/);
    assert.ok(out.endsWith('</TEMPLATE>\n</BACKUPJOB>'));
  });

  it("-j has OpenNebula's shape: strings, lone IDs scalar, SCHED_ACTION an array, empty {}", () => {
    const j = xmlToOneJson(JOB2, ['SCHED_ACTION']) as { BACKUPJOB: Record<string, unknown> };
    const bj = j.BACKUPJOB;
    assert.equal(bj['ID'], '2');
    assert.deepEqual(bj['UPDATED_VMS'], { ID: '158' });
    assert.deepEqual(bj['SCHED_ACTIONS'], { ID: ['3', '4'] });
    assert.deepEqual(bj['ERROR_VMS'], {});
    const t = bj['TEMPLATE'] as Record<string, unknown>;
    assert.equal(t['BACKUP_VMS'], '158,159,162');
    assert.ok(Array.isArray(t['SCHED_ACTION']));
    assert.deepEqual((t['SCHED_ACTION'] as Record<string, unknown>[])[0]?.['ARGS'], {});
  });
});
