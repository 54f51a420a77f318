import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TemplateError } from '../../../core/errors.js';
import { parseTemplate } from '../../../core/template/parser.js';
import { type Located, located, plain } from './fixtures.js';

function rejection(text: string, file?: string): TemplateError {
  try {
    parseTemplate(text, { file });
  } catch (err) {
    assert.ok(err instanceof TemplateError, String(err));
    return err;
  }
  assert.fail(`accepted: ${JSON.stringify(text)}`);
}

describe('XML form: accepted', () => {
  it('row 39: an element with text is a single value, one with elements a vector', () => {
    const { attributes, warnings } = parseTemplate('<TEMPLATE><NAME>x</NAME><V><A>1</A></V></TEMPLATE>');
    assert.deepEqual(plain(attributes), [
      ['NAME', 'x'],
      ['V', [['A', '1']]],
    ]);
    assert.deepEqual(warnings, []);
  });

  it('pretty-printed, with a declaration, comments, CDATA, references, a BOM and leading blanks', () => {
    const xml = [
      '\uFEFF  <?xml version="1.0" encoding="UTF-8"?>',
      '<!-- a comment with <TAGS> in it -->',
      '<ANY_ROOT>',
      '  <name><![CDATA[ finance "weekly" # k=v, [x] ]]></name>',
      '  <DESCRIPTION>a &amp; b &lt;c&gt; &#233;<!-- dropped --> end</DESCRIPTION>',
      '  <DISK>',
      '    <source>/a b</source>',
      '    <FORMAT><![CDATA[raw]]></FORMAT>',
      '  </DISK>',
      '  <NOTES>line one\r\nline two</NOTES>',
      '</ANY_ROOT>',
    ].join('\n');
    assert.deepEqual(plain(parseTemplate(xml).attributes), [
      ['NAME', 'finance "weekly" # k=v, [x]'],
      ['DESCRIPTION', 'a & b <c> é end'],
      [
        'DISK',
        [
          ['SOURCE', '/a b'],
          ['FORMAT', 'raw'],
        ],
      ],
      ['NOTES', 'line one\nline two'],
    ]);
  });

  it('keeps repeated names, applies the name rules, reads an empty element as an empty value', () => {
    const xml =
      '<T><DISK><A>1</A></DISK><DISK>single</DISK><_1>x</_1><XML_A>y</XML_A><xml_b>z</xml_b><E/><F></F></T>';
    assert.deepEqual(plain(parseTemplate(xml).attributes), [
      ['DISK', [['A', '1']]],
      ['DISK', 'single'],
      ['_1', 'x'],
      ['ONE_XML_A', 'y'],
      ['XML_B', 'z'],
      ['E', ''],
      ['F', ''],
    ]);
  });

  it('a repeated sub-key keeps the first value, with a warning, as in the text form', () => {
    const { attributes, warnings } = parseTemplate('<T>\n<V><A>1</A><a>2</a><B/></V></T>');
    assert.deepEqual(plain(attributes), [
      [
        'V',
        [
          ['A', '1'],
          ['B', ''],
        ],
      ],
    ]);
    assert.deepEqual(located(warnings), [
      [2, 13, 'V/A', 'A is given twice in V; the first value (line 2) is used'],
    ]);
  });

  it('knows the line and column of each element name', () => {
    const [name, v] = parseTemplate(
      '<TEMPLATE>\n  <NAME>x</NAME><!-- <NOT/> -->\n  <V>\n    <A>1</A>\n  </V>\n</TEMPLATE>',
    ).attributes;
    assert.deepEqual([name?.line, name?.column], [2, 4]);
    assert.deepEqual(v?.kind === 'vector' && [v.line, v.column, [...v.positions]], [
      3,
      4,
      [['A', { line: 4, column: 6 }]],
    ]);
  });

  it('an empty root is an empty template', () => {
    assert.deepEqual(parseTemplate('<TEMPLATE/>').attributes, []);
  });
});

describe('XML form: refused, with the reason', () => {
  it('malformed XML: line, column and what the reader found', () => {
    assert.equal(
      rejection('<TEMPLATE><NAME>x</TEMPLATE>').message,
      'template line 1, col 18: XML template malformed: </TEMPLATE> closes <NAME>',
    );
    assert.equal(
      rejection('<TEMPLATE>\n<NAME>x</NAME>', 'job.xml').message,
      'job.xml line 2, col 15: XML template malformed: <TEMPLATE> is not closed',
    );
  });

  it('a DOCTYPE (no entity expansion, ever)', () => {
    assert.match(
      rejection('<!DOCTYPE T [<!ENTITY x "y">]><T><A>&x;</A></T>').message,
      /^template line 1, col 1: XML template malformed: a DOCTYPE is not supported$/,
    );
  });

  it('everything the text form could not say, all at once', () => {
    const xml =
      '<T>junk<A-B>1</A-B>\n<V>t<X>1</X></V><W><X><Y>1</Y></X></W><C>a]]&gt;b</C><D>\u0001</D><U><é>1</é></U></T>';
    const expected: Located[] = [
      [1, 2, undefined, 'text directly inside <T> belongs to no attribute; put it in an element'],
      [1, 9, 'A-B', 'attribute names may hold only letters, digits and _; <A-B> cannot be one'],
      [2, 2, 'V', '<V> mixes text with elements; a vector holds only elements'],
      [2, 24, 'W/X', 'vectors cannot be nested: <X> must hold a value, not <Y>'],
      [
        2,
        40,
        'C',
        "a value cannot contain ']]>': templates are kept in XML CDATA sections, which it would end",
      ],
      [2, 55, 'D', 'a value cannot contain the character U+0001: XML cannot carry it'],
      [2, 66, 'U/É', 'attribute names may hold only letters, digits and _; <é> cannot be one'],
    ];
    assert.deepEqual(located(rejection(xml).problems), expected);
  });
});
