/**
 * The first entry points (backupjob.ts, renderTable/describeColumns) delegate to the new modules;
 * -x and -j (xml-tokens.ts) on the same documents.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  backupJobColumns,
  backupJobPoolRows,
  formatBackupJobShow,
  templateAttributes,
} from '../../../cli/format/backupjob.js';
import { parseBackupJobPoolXml, parseBackupJobXml } from '../../../cli/format/backupjob-doc-pull.js';
import { describeBackupJobPool, formatBackupJobPool } from '../../../cli/format/backupjob-list.js';
import { formatBackupJob } from '../../../cli/format/backupjob-show.js';
import { describeColumns, renderTable } from '../../../cli/format/table.js';
import { strftime } from '../../../cli/format/time.js';
import { parseStringSync } from '../../../cli/format/xml-read.js';
import { prettyXml, xmlToOneJson } from '../../../cli/format/xml-tokens.js';
import { job2Xml, NOW_OVERDUE, POOL_XML } from './fixtures.js';

describe('first entry points', () => {
  it('formatBackupJobShow(xml) is formatBackupJob(parseBackupJobXml(xml))', () => {
    for (const tty of [false, true]) {
      const ctx = { now: NOW_OVERDUE, timeZone: 'UTC', tty };
      assert.equal(formatBackupJobShow(job2Xml(), ctx), formatBackupJob(parseBackupJobXml(job2Xml()), ctx));
    }
  });

  it('backupJobColumns + renderTable is formatBackupJobPool, for every option', () => {
    const columns = backupJobColumns({ timeZone: 'UTC' });
    const jobs = parseBackupJobPoolXml(POOL_XML);
    for (const options of [
      {},
      { csv: true },
      { list: ['NAME', 'ID', 'PRIO'], noHeader: true },
      { filter: ['PRIO=7', 'NAME~Private'], operator: 'OR' },
      { tty: { columns: 100 } },
    ]) {
      assert.equal(
        renderTable(columns, backupJobPoolRows(POOL_XML), options),
        formatBackupJobPool(jobs, { timeZone: 'UTC', ...options }),
      );
    }
    assert.equal(describeColumns(columns), describeBackupJobPool());
  });

  it('templateAttributes reads any TEMPLATE-like element, SCHED_ACTION left out', () => {
    const attrs = templateAttributes(parseStringSync(job2Xml()).child('TEMPLATE'));
    assert.deepEqual(
      attrs.map((a) => a.name),
      ['BACKUP_VMS', 'BACKUP_VOLATILE', 'DATASTORE_ID', 'EXECUTION', 'FS_FREEZE', 'KEEP_LAST', 'MODE'],
    );
    assert.deepEqual(templateAttributes(undefined), []);
  });

  it("time.ts's strftime takes the zone, or the process's", () => {
    assert.equal(strftime(1767600000, '%m/%d/%y %H:%M', 'UTC'), '01/05/26 08:00');
    assert.equal(typeof strftime(1767600000, '%H'), 'string');
  });
});

describe('-x and -j', () => {
  const JOB2 = job2Xml();

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
