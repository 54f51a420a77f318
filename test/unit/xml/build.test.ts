import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cdata, el, escapeXml, raw, render, text } from '../../../core/xml/build.js';
import { parseXmlTree } from '../../../core/xml/tree.js';
import { JOB_XML } from './fixtures.js';

describe('XML builder', () => {
  it('writes compact XML, an empty element as <X></X>', () => {
    assert.equal(render(el('A', el('B'), el('C', 'x'), el('D', 7))), '<A><B></B><C>x</C><D>7</D></A>');
  });

  it('escapes text children and text()', () => {
    assert.equal(render(el('A', `<&>"'`)), '<A>&lt;&amp;&gt;&quot;&apos;</A>');
    assert.equal(render(el('A', text('a&b'), text(-1))), '<A>a&amp;b-1</A>');
  });

  it('keeps CR as &#13; and turns characters XML cannot carry into U+FFFD', () => {
    assert.equal(
      render(el('A', 'a\r\nb\u0001c\u001bd\uD800e\uFFFEf😀\t')),
      '<A>a&#13;\nb\uFFFDc\uFFFDd\uFFFDe\uFFFDf😀\t</A>',
    );
    assert.equal(escapeXml('\u0000'), '\uFFFD');
  });

  it('writes CDATA verbatim and splits ]]> so the text survives', () => {
    assert.equal(render(cdata('a < b && c\nd')), '<![CDATA[a < b && c\nd]]>');
    assert.equal(render(cdata('')), '<![CDATA[]]>');
    assert.equal(render(cdata('x]]>y]]>')), '<![CDATA[x]]]]><![CDATA[>y]]]]><![CDATA[>]]>');
    for (const value of ['x]]>y', ']]>', ']]]]>', 'a]]]>b', ']>]]>>']) {
      const root = parseXmlTree(render(el('A', cdata(value))));
      assert.deepEqual(root.children, [{ kind: 'cdata', value }], value);
    }
  });

  it('inserts raw markup as is', () => {
    assert.equal(render(el('A', raw('<B>&amp;</B>'), 'x')), '<A><B>&amp;</B>x</A>');
  });

  it('refuses invalid element names', () => {
    for (const name of ['', '1A', 'A B', 'A<', 'A>', 'A/']) {
      assert.throws(() => el(name), new TypeError(`${JSON.stringify(name)} is not a valid XML element name`));
    }
    assert.equal(render(el('A_1.b-c:d')), '<A_1.b-c:d></A_1.b-c:d>');
  });

  it('builds the SPEC 2.4 document byte for byte', () => {
    const ids = (name: string, ...values: number[]) => el(name, ...values.map((v) => el('ID', v)));
    const sched = (
      id: number,
      time: number,
      repeat: number,
      days: string,
      end: [number, number],
      message: string,
    ) =>
      el(
        'SCHED_ACTION',
        el('ID', id),
        el('PARENT_ID', 2),
        el('TYPE', 'BACKUPJOB'),
        el('ACTION', 'backup'),
        el('ARGS', ''),
        el('TIME', time),
        el('REPEAT', repeat),
        el('DAYS', days),
        el('END_TYPE', end[0]),
        el('END_VALUE', end[1]),
        el('DONE', -1),
        el('MESSAGE', message),
        el('WARNING', 0),
      );
    const flags = [
      'OWNER_U',
      'OWNER_M',
      'OWNER_A',
      'GROUP_U',
      'GROUP_M',
      'GROUP_A',
      'OTHER_U',
      'OTHER_M',
      'OTHER_A',
    ];
    const doc = el(
      'BACKUPJOB',
      el('ID', 2),
      el('UID', 0),
      el('GID', 0),
      el('UNAME', 'oneadmin'),
      el('GNAME', 'oneadmin'),
      el('NAME', 'Private Services & más'),
      el('PERMISSIONS', ...flags.map((f, i) => el(f, i < 2 ? 1 : 0))),
      el('PRIORITY', 50),
      el('LAST_BACKUP_TIME', 1767600000),
      el('LAST_BACKUP_DURATION', 19),
      ids('SCHED_ACTIONS', 3, 4),
      ids('UPDATED_VMS', 158),
      ids('OUTDATED_VMS', 162),
      ids('BACKING_UP_VMS', 159),
      ids('ERROR_VMS'),
      el(
        'TEMPLATE',
        el('BACKUP_VMS', cdata('158,159,162')),
        el('DATASTORE_ID', cdata('100')),
        el('DESCRIPTION', cdata('line one\n  <b>two</b> & "three"\n]]> four')),
        el('DISK_IDS', cdata('')),
        el('FS_FREEZE', cdata('NONE')),
        el('KEEP_LAST', cdata('4')),
        el('MODE', cdata('INCREMENT')),
        sched(3, 1767603600, 0, '1,5', [0, -1], ''),
        sched(
          4,
          1767225600,
          3,
          '12',
          [1, 10],
          'Thu Jan  1 00:00:15 2026 : Unable to execute Backup Job, pending backups in progress',
        ),
      ),
    );
    assert.equal(render(doc), JOB_XML);
  });
});
