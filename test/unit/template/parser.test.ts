import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TemplateError } from '../../../core/errors.js';
import { parseTemplate } from '../../../core/template/parser.js';
import { EXAMPLE_ATTRIBUTES, EXAMPLES, type Located, located, plain, ROWS } from './fixtures.js';

function rejection(text: string, file?: string): TemplateError {
  try {
    parseTemplate(text, { file });
  } catch (err) {
    assert.ok(err instanceof TemplateError, String(err));
    return err;
  }
  assert.fail(`accepted: ${JSON.stringify(text)}`);
}

const problems = (text: string): Located[] => located(rejection(text).problems);

describe('template parser: every row of SPEC.md 1.5, with the Product result', () => {
  for (const { row, input, result } of ROWS) {
    it(`row ${row}: ${JSON.stringify(input).slice(0, 60)}`, () => {
      if ('errors' in result) {
        assert.deepEqual(problems(input), result.errors);
        return;
      }
      const parsed = parseTemplate(input);
      assert.deepEqual(plain(parsed.attributes), result.attributes);
      assert.deepEqual(located(parsed.warnings), result.warnings ?? []);
    });
  }

  it('the table has all 40 rows', () => {
    assert.deepEqual(
      [...new Set(ROWS.map((r) => r.row))],
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  });
});

describe('template parser: example files', () => {
  for (const [file, text] of Object.entries(EXAMPLES)) {
    it(file, () => {
      const parsed = parseTemplate(text, { file });
      assert.deepEqual(plain(parsed.attributes), EXAMPLE_ATTRIBUTES[file]);
      assert.deepEqual(parsed.warnings, []);
    });
  }

  it('the same files with CRLF line ends give the same attributes', () => {
    for (const [file, text] of Object.entries(EXAMPLES)) {
      assert.deepEqual(
        plain(parseTemplate(text.replaceAll('\n', '\r\n')).attributes),
        EXAMPLE_ATTRIBUTES[file],
      );
    }
  });
});

describe('template parser: exact error messages', () => {
  it('a list left unquoted', () => {
    assert.equal(
      rejection('NAME = "n"\nDATASTORE_ID = 100\nBACKUP_VMS = 1,2,3 # the VMs').message,
      `template line 3, col 15 (BACKUP_VMS): unquoted value ends at ','; quote lists: BACKUP_VMS = "1,2,3"`,
    );
  });

  it('a name without =, with the file name', () => {
    const err = rejection('FOO', 'job.tmpl');
    assert.equal(err.message, "job.tmpl line 1, col 4 (FOO): expected '=' after the attribute name");
    assert.equal(err.file, 'job.tmpl');
  });

  it('every broken line at once, in order', () => {
    assert.equal(
      rejection(
        'A = "ok"\nB = 1,2\nC = "fine"\nD-E = "x"\nV = [ X = 1 Y = 2 ]\nW = [ A = [ B = 1 ] ]\nOK = 1\n',
      ).message,
      [
        `template line 2, col 6 (B): unquoted value ends at ','; quote lists: B = "1,2"`,
        "template line 4, col 2 (D-E): attribute names may hold only letters, digits and _; '-' is not allowed",
        "template line 5, col 13 (V): expected ',' or ']' after the value of X, found 'Y'",
        "template line 6, col 11 (W/A): vectors cannot be nested: expected a value after '=', found '['",
      ].join('\n'),
    );
  });

  it('an unterminated quote that runs into later lines names the line it opened on', () => {
    assert.equal(
      rejection('A = "abc\nB = "def"').message,
      `template line 1, col 5 (A): unterminated quote: the '"' opened here is not closed on this line, ` +
        `and the next '"' (line 2, col 5) is followed by 'd'; add the closing '"'`,
    );
  });

  it('a vector left open', () => {
    assert.equal(
      rejection('DISK = [ SOURCE = "/a",\n  FORMAT = "raw"\nNAME = "x"').message,
      "template line 3, col 1 (DISK): expected ',' or ']' after the value of FORMAT, found 'N'; " +
        "close DISK = [ opened on line 1 with ']'",
    );
  });
});

describe('template parser: errors say where and what was expected', () => {
  const cases: [string, string, Located[]][] = [
    ['= at the start', '= 5', [[1, 1, undefined, "expected an attribute name before '='"]]],
    [
      'a stray quoted value',
      '"x" = 1',
      [[1, 1, undefined, `expected an attribute name (letters, digits and _), found '"'`]],
    ],
    [
      'a non-ASCII letter in a name',
      'NÁME = 1',
      [[1, 2, 'NÁME', "attribute names may hold only letters, digits and _; 'Á' is not allowed"]],
    ],
    [
      'an emoji as a name',
      '😀 = 1',
      [[1, 1, undefined, "expected an attribute name (letters, digits and _), found '😀'"]],
    ],
    [
      'a second word where = belongs',
      'A B = 1',
      [[1, 3, 'A', "expected '=' after the attribute name, found 'B'"]],
    ],
    [
      '# then a blank after = looks like a comment',
      'A = # nothing',
      [
        [
          1,
          5,
          'A',
          `expected a value after '=', found a comment ('#' does not start a comment here); write A = "" for an empty value and put the comment after it`,
        ],
      ],
    ],
    [
      '# at the end of the line after =',
      'A = #\nB = 1',
      [
        [
          1,
          5,
          'A',
          `expected a value after '=', found a comment ('#' does not start a comment here); write A = "" for an empty value and put the comment after it`,
        ],
      ],
    ],
    [
      'two words after = #',
      'A = #foo bar',
      [
        [
          1,
          13,
          'BAR',
          `expected '=' after the attribute name; the '#' after A = does not start a comment: write A = "" # ... for an empty value, or quote the value`,
        ],
      ],
    ],
    [
      '= inside an unquoted value',
      'A = x=y',
      [[1, 6, 'A', `unquoted value ends at '='; quote it: A = "x=y"`]],
    ],
    [
      'text glued to a closing quote',
      'A = "x y"z',
      [[1, 10, 'A', `expected a blank or the end of the line after the closing '"', found 'z'`]],
    ],
    [
      'an escaped quote meant as the closing one',
      'A = "x\\" B = "y"',
      [
        [
          1,
          7,
          'A',
          'a quoted value cannot end with a backslash: \\" is an escaped quote, so the value does not end here',
        ],
      ],
    ],
    [
      'an escaped quote at the end of the file',
      'A = "C:\\"',
      [
        [
          1,
          8,
          'A',
          'a quoted value cannot end with a backslash: \\" is an escaped quote, so the value does not end here',
        ],
      ],
    ],
    [
      'a control character',
      'A = "a\u0001b"',
      [[1, 7, 'A', 'a value cannot contain the character U+0001: XML cannot carry it']],
    ],
    [
      'a form feed inside a value',
      'A = "a\fb"',
      [[1, 7, 'A', 'a value cannot contain the character U+000C (form feed): XML cannot carry it']],
    ],
    [
      ']]> after an escaped quote, on a later line',
      'A = "\\"x\\"\n  y]]>"',
      [
        [
          2,
          4,
          'A',
          "a value cannot contain ']]>': templates are kept in XML CDATA sections, which it would end",
        ],
      ],
    ],
    [
      'a vector never closed',
      'V = [ A = 1',
      [
        [
          1,
          12,
          'V',
          "expected ',' or ']' after the value of A, found end of file; close V = [ opened on line 1 with ']'",
        ],
      ],
    ],
    [
      'a vector with nothing after [',
      'V = [',
      [
        [
          1,
          6,
          'V',
          "expected a KEY = value pair inside V = [ ... ], found end of file; close V = [ opened on line 1 with ']'",
        ],
      ],
    ],
    [
      'a sub-key without =',
      'V = [ A ]',
      [[1, 9, 'V/A', "expected '=' after A inside V = [ ... ], found ']'"]],
    ],
    [
      'a sub-key with a bad character',
      'V = [ A.B = 1 ]',
      [[1, 8, 'V/A.B', "attribute names may hold only letters, digits and _; '.' is not allowed"]],
    ],
    [
      'an empty sub-value at the end of a line',
      'V = [ A =\n B = 1 ]',
      [[1, 10, 'V/A', `expected a value after '=', found end of line; write A = "" for an empty value`]],
    ],
    [
      'junk after a vector',
      'V = [ A = 1 ] ,',
      [[1, 15, 'V', "expected a new line, a comment or another attribute after V = [ ... ], found ','"]],
    ],
  ];
  for (const [what, text, expected] of cases) {
    it(what, () => assert.deepEqual(problems(text), expected));
  }

  it('columns count characters, not UTF-16 units', () => {
    assert.deepEqual(problems('A = "😀😀" B'), [[1, 11, 'B', "expected '=' after the attribute name"]]);
  });

  it('CRLF, a lone CR and a BOM do not move positions', () => {
    assert.deepEqual(problems('\uFEFFA = 1\r\nB = 2\rC'), [
      [3, 2, 'C', "expected '=' after the attribute name"],
    ]);
  });

  it('stops after 20 problems', () => {
    assert.equal(rejection('A-B = 1\n'.repeat(30)).problems.length, 20);
  });
});

describe('template parser: what it accepts besides the table', () => {
  const cases: [string, string, ReturnType<typeof plain>][] = [
    [
      'comments and blank lines inside a vector',
      'V = [ # first\n  A = 1, # c\n\n  # own line\n  B = "2" # c3\n]',
      [
        [
          'V',
          [
            ['A', '1'],
            ['B', '2'],
          ],
        ],
      ],
    ],
    [
      'an attribute after a vector on the same line',
      'V = [A=1] B = 2',
      [
        ['V', [['A', '1']]],
        ['B', '2'],
      ],
    ],
    [
      'sub-keys follow the name rules',
      'V = [ 1a = x, xml_b = y, XMLC = z ]',
      [
        [
          'V',
          [
            ['ONE_1A', 'x'],
            ['XML_B', 'y'],
            ['ONE_XMLC', 'z'],
          ],
        ],
      ],
    ],
    ['a sub-key repeated in another case', 'V = [ b = "x", B = "y" ]', [['V', [['B', 'x']]]]],
    [
      'an unquoted value ending in a backslash',
      String.raw`P = C:\dir\ `,
      [['P', String.raw`C:\dir\ `.trim()]],
    ],
    [
      'a quoted backslash kept by a blank before the quote',
      String.raw`P = "C:\dir\ "`,
      [['P', String.raw`C:\dir\ `.trim()]],
    ],
    [
      'an escaped quote that ends a line inside a longer value',
      'D = "say \\"hi\\"\nand go"',
      [['D', 'say "hi"\nand go']],
    ],
    [
      'blanks and tabs around =',
      'A\t=\t"1"\nB   =2',
      [
        ['A', '1'],
        ['B', '2'],
      ],
    ],
    ['an empty quoted value', 'A = ""', [['A', '']]],
    ['leading and trailing control-like blanks are trimmed', 'A = "\fx\v"', [['A', 'x']]],
    ['non-breaking spaces are not trimmed', 'A = "\u00a0x\u00a0"', [['A', '\u00a0x\u00a0']]],
    ['a # glued to the value after a vector =', 'V = [ A = #x ]', [['V', [['A', 'x']]]]],
  ];
  for (const [what, text, expected] of cases) {
    it(what, () => assert.deepEqual(plain(parseTemplate(text).attributes), expected));
  }

  it('keeps the positions of names, values and sub-keys', () => {
    const [a, b, c] = parseTemplate('\n  NAME = "x"\nKEY = [\n A = 1,\n\tB = 2 ] EMPTY =\n').attributes;
    assert.deepEqual(a, {
      kind: 'single',
      name: 'NAME',
      value: 'x',
      line: 2,
      column: 3,
      valueAt: { line: 2, column: 10 },
    });
    assert.equal(b?.kind, 'vector');
    assert.deepEqual(b?.kind === 'vector' && [b.line, b.column, [...b.positions]], [
      3,
      1,
      [
        ['A', { line: 4, column: 2 }],
        ['B', { line: 5, column: 2 }],
      ],
    ]);
    assert.deepEqual(c, { kind: 'single', name: 'EMPTY', value: '', line: 5, column: 10 });
  });

  it('warns once per repeated sub-key, at the repeat', () => {
    assert.deepEqual(located(parseTemplate('V = [ A = 1, B = 2, a = 3 ]').warnings), [
      [1, 21, 'V/A', 'A is given twice in V; the first value (line 1) is used'],
    ]);
  });
});
