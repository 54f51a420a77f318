import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTemplate } from '../../../core/template/parser.js';
import {
  type PrintableAttribute,
  templateToString,
  templateToXml,
} from '../../../core/template/serialize.js';
import { EXAMPLES, type Plain, plain, ROWS, TRICKY } from './fixtures.js';

const byName = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** Attributes as a printed template holds them: sorted by name (stable), sub-keys sorted. */
const canonical = (attrs: readonly PrintableAttribute[]): Plain[] =>
  plain(attrs)
    .map(([n, v]): Plain => [n, Array.isArray(v) ? [...v].sort(byName) : v])
    .sort(byName);

/** Every accepted input: the table's rows (but row 16, below), the example files and the tricky values. */
const INPUTS: [string, string][] = [
  ...ROWS.filter((r) => 'attributes' in r.result && r.row !== 16).map((r): [string, string] => [
    `row ${r.row}`,
    r.input,
  ]),
  ...Object.entries(EXAMPLES),
  ['tricky values', TRICKY],
];

describe('templateToString', () => {
  it('prints KEY="value" sorted, vectors as OpenNebula does, an empty vector as KEY=[ ]', () => {
    const attrs = parseTemplate(
      'B = "2"\nA = [ Y = "1", X = "q\\"q" ]\nA = "s"\nE = [ ]\nT = ends\\ \nZ = ""\nAB = 1\nA_B = 2',
    ).attributes;
    assert.equal(
      templateToString(attrs),
      'A=[\n  X="q\\"q",\n  Y="1" ]\nA="s"\nAB="1"\nA_B="2"\nB="2"\nE=[ ]\nT="ends\\ "\nZ=""\n',
    );
  });

  it('matches the TEMPLATE CONTENTS of `onebackupjob show` (SPEC.md 3.4), SCHED_ACTION left out', () => {
    const attrs = parseTemplate(
      [
        'MODE = "FULL"',
        'KEEP_LAST = "4"',
        'SCHED_ACTION = [ REPEAT = "0", DAYS = "1,5", TIME = "1767600000" ]',
        'FS_FREEZE = "NONE"',
        'EXECUTION = "SEQUENTIAL"',
        'DATASTORE_ID = "100"',
        'BACKUP_VOLATILE = "NO"',
        'BACKUP_VMS = "158,159,162"',
      ].join('\n'),
    ).attributes;
    assert.equal(
      templateToString(attrs, { omit: ['SCHED_ACTION'] }),
      'BACKUP_VMS="158,159,162"\nBACKUP_VOLATILE="NO"\nDATASTORE_ID="100"\nEXECUTION="SEQUENTIAL"\n' +
        'FS_FREEZE="NONE"\nKEEP_LAST="4"\nMODE="FULL"\n',
    );
  });

  it('keeps equal names in input order, and prints nothing for nothing', () => {
    const attrs: PrintableAttribute[] = [
      { kind: 'single', name: 'D', value: 'second' },
      { kind: 'vector', name: 'C', values: new Map([['X', '1']]) },
      { kind: 'single', name: 'C', value: 'after the vector' },
      { kind: 'single', name: 'D', value: 'third' },
    ];
    assert.equal(
      templateToString([{ kind: 'single', name: 'D', value: 'first' }, ...attrs]),
      'C=[\n  X="1" ]\nC="after the vector"\nD="first"\nD="second"\nD="third"\n',
    );
    assert.equal(templateToString([]), '');
  });
});

describe('templateToXml', () => {
  it('writes sorted children in CDATA, compact', () => {
    const attrs = parseTemplate(
      'B = "2"\nA = [ Y = "1", X = "q\\"q" ]\nA = "s <&>"\nE = [ ]\nZ = ""',
    ).attributes;
    assert.equal(
      templateToXml(attrs),
      '<TEMPLATE><A><X><![CDATA[q"q]]></X><Y><![CDATA[1]]></Y></A><A><![CDATA[s <&>]]></A>' +
        '<B><![CDATA[2]]></B><E></E><Z><![CDATA[]]></Z></TEMPLATE>',
    );
  });

  it('leaves out names, takes another root, splits a ]]> from elsewhere across two CDATA sections', () => {
    const attrs: PrintableAttribute[] = [
      { kind: 'single', name: 'ERROR', value: 'a]]>b' },
      { kind: 'vector', name: 'SCHED_ACTION', values: new Map([['ID', '1']]) },
    ];
    assert.equal(
      templateToXml(attrs, { omit: ['SCHED_ACTION'], root: 'USER_TEMPLATE' }),
      '<USER_TEMPLATE><ERROR><![CDATA[a]]]]><![CDATA[>b]]></ERROR></USER_TEMPLATE>',
    );
    assert.equal(templateToXml([]), '<TEMPLATE></TEMPLATE>');
  });
});

describe('round trip: what is printed parses back to the same attributes', () => {
  for (const [what, input] of INPUTS) {
    it(`text: ${what}`, () => {
      const first = parseTemplate(input).attributes;
      const printed = templateToString(first);
      const again = parseTemplate(printed).attributes;
      assert.deepEqual(plain(again), canonical(first), printed);
      assert.equal(templateToString(again), printed);
    });

    it(`XML: ${what}`, () => {
      const first = parseTemplate(input).attributes;
      const again = parseTemplate(templateToXml(first)).attributes;
      // `<E></E>` cannot tell an empty vector from an empty value: it reads back as an empty value.
      const expected = canonical(first).map(
        ([n, v]): Plain => [n, Array.isArray(v) && v.length === 0 ? '' : v],
      );
      assert.deepEqual(plain(again), expected);
    });
  }

  it('the one exception is OpenNebula’s own: xml_thing is stored as XML_THING, read back as ONE_XML_THING', () => {
    const printed = templateToString(parseTemplate('xml_thing = "v"\nV = [ xml_a = "w" ]').attributes);
    assert.equal(printed, 'V=[\n  XML_A="w" ]\nXML_THING="v"\n');
    assert.deepEqual(plain(parseTemplate(printed).attributes), [
      ['V', [['ONE_XML_A', 'w']]],
      ['ONE_XML_THING', 'v'],
    ]);
  });
});
