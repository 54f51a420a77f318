import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBackupJobPoolXml } from '../../../cli/format/backupjob-doc-pull.js';
import { describeBackupJobPool, formatBackupJobPool, vmsCell } from '../../../cli/format/backupjob-list.js';
import { POOL_XML } from './fixtures.js';

const jobs = parseBackupJobPoolXml(POOL_XML);
const list = (options: Parameters<typeof formatBackupJobPool>[1]) => formatBackupJobPool(jobs, options);

describe('onebackupjob list: SPEC.md 3.3', () => {
  it('reproduces the real output byte for byte (TZ=UTC, not a TTY): header kept as is, rows right-trimmed', () => {
    assert.equal(
      list({ timeZone: 'UTC' }),
      '  ID USER     GROUP    PRIO NAME            LAST            VMS            \n' +
        '   2 oneadmin oneadmin 50   Private Service 01/05/26 08:00  158,159,162\n' +
        '   1 oneadmin oneadmin 7    Production A ve -               160,157,156,...\n',
    );
  });

  it('--csv prints the header and untruncated names, lists quoted', () => {
    assert.equal(
      list({ timeZone: 'UTC', csv: true }),
      'ID,USER,GROUP,PRIO,NAME,LAST,VMS\n' +
        '2,oneadmin,oneadmin,50,Private Services,01/05/26 08:00,"158,159,162"\n' +
        '1,oneadmin,oneadmin,7,Production A very long name,-,"160,157,156,..."\n',
    );
  });

  it('-l ID,NAME,PRIO picks columns in that order', () => {
    assert.equal(
      list({ timeZone: 'UTC', list: ['ID', 'NAME', 'PRIO'] }),
      '  ID NAME            PRIO\n   2 Private Service 50\n   1 Production A ve 7\n',
    );
  });

  it('-f PRIO=7 filters on the formatted strings', () => {
    assert.equal(
      list({ timeZone: 'UTC', filter: ['PRIO=7'], noHeader: true }),
      '   1 oneadmin oneadmin 7    Production A ve -               160,157,156,...\n',
    );
    assert.equal(list({ timeZone: 'UTC', filter: ['LAST=-'], list: ['ID'], noHeader: true }), '   1\n');
    assert.equal(list({ timeZone: 'UTC', filter: ['VMS~156,...'], list: ['ID'], noHeader: true }), '   1\n');
  });

  it('-n shows UID and GID', () => {
    assert.match(list({ timeZone: 'UTC', numeric: true }), /\n {3}2 0 {8}0 {8}50 {3}Private/);
  });

  it('LAST follows the time zone', () => {
    assert.match(
      list({ timeZone: 'America/New_York', list: ['LAST'] }),
      /^LAST {11}\n01\/05\/26 03:00\n-\n$/,
    );
  });

  it('ID widens to the longest value; USER and GROUP are cut at 8', () => {
    const wide = POOL_XML.replace('<ID>2</ID>', '<ID>123456</ID>').replace(
      '<UNAME>oneadmin</UNAME>',
      '<UNAME>administrator</UNAME>',
    );
    assert.equal(
      formatBackupJobPool(parseBackupJobPoolXml(wide), { timeZone: 'UTC', list: ['ID', 'USER'] }),
      '    ID USER    \n123456 administ\n     1 oneadmin\n',
    );
  });

  it('on a terminal NAME, LAST and VMS expand to fill it, and the header is bold and underlined', () => {
    const out = list({ timeZone: 'UTC', tty: { columns: 100 } });
    const [head, row2, row1] = out.split('\n');
    // 69 columns + 6 blanks leave 25: 8 each by width, the 1 left over to the last.
    assert.equal(
      head,
      `\u001b[1m\u001b[4m  ID USER     GROUP    PRIO ${'NAME'.padEnd(23)} ${'LAST'.padEnd(23)} ${'VMS'.padEnd(24)}\u001b[0m`,
    );
    assert.equal(
      row2,
      `   2 oneadmin oneadmin 50   ${'Private Services'.padEnd(23)} ${'01/05/26 08:00'.padEnd(23)} 158,159,162`,
    );
    assert.equal(
      row1,
      `   1 oneadmin oneadmin 7    Production A very long  ${'-'.padEnd(23)} 160,157,156,...`,
    );
    const noExpand = list({ timeZone: 'UTC', tty: { columns: 100 }, noExpand: true }).split('\n');
    assert.deepEqual(noExpand.slice(1), list({ timeZone: 'UTC' }).split('\n').slice(1));
  });

  it('--describe prints the helper descriptions, NAME copy-paste bug included', () => {
    assert.equal(
      describeBackupJobPool(),
      'ID                  : ONE identifier for the Backup Job\n' +
        'USER                : Username of the Backup Job owner\n' +
        'GROUP               : Group of the Backup Job\n' +
        'PRIO                : Priority of the Backup Job\n' +
        'NAME                : Date for the last backup operation\n' +
        'LAST                : Date for the last backup operation\n' +
        'VMS                 : VM IDs part of this backup job\n',
    );
  });

  it('VMS: 15 characters kept, over that 12 and ..., - without BACKUP_VMS', () => {
    assert.equal(vmsCell('1,2,3,4,5,6,7,8'), '1,2,3,4,5,6,7,8');
    assert.equal(vmsCell('1,2,3,4,5,6,7,89'), '1,2,3,4,5,6,...');
    assert.equal(vmsCell(''), '');
    assert.equal(vmsCell(undefined), '-');
  });
});
