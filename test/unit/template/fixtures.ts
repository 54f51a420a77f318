/**
 * Shared material for the template tests: the rows of SPEC.md 1.5 with the Product result, and
 * the example templates of /work/shared/examples (copied here verbatim: CI may not have them).
 */
import type { PrintableAttribute } from '../../../core/template/serialize.js';

/** An attribute as `[NAME, value]` or `[NAME, [[SUB, value], ...]]` (sub-keys in stored order). */
export type Plain = [string, string | [string, string][]];

export const plain = (attrs: readonly PrintableAttribute[]): Plain[] =>
  attrs.map((a) => (a.kind === 'single' ? [a.name, a.value] : [a.name, [...a.values.entries()]]));

/** `[line, column, attribute, message]` of a problem or a warning. */
export type Located = [number, number, string | undefined, string];

export const located = (
  xs: readonly { line: number; column: number; attribute?: string | undefined; message: string }[],
) => xs.map((x): Located => [x.line, x.column, x.attribute, x.message]);

export type RowResult =
  | { readonly attributes: Plain[]; readonly warnings?: Located[] }
  | { readonly errors: Located[] };

export interface Row {
  readonly row: number;
  readonly input: string;
  readonly result: RowResult;
}

const UNTERMINATED = `unterminated quote: the '"' opened here is never closed; add the closing '"'`;

/** Every row of SPEC.md 1.5, with what the Product makes of it. */
export const ROWS: readonly Row[] = [
  {
    row: 1,
    input: 'NAME = "nightly"\nname = "second"',
    result: {
      attributes: [
        ['NAME', 'nightly'],
        ['NAME', 'second'],
      ],
    },
  },
  {
    row: 2,
    input: 'BACKUP_VMS = 1,2,3',
    result: {
      errors: [[1, 15, 'BACKUP_VMS', `unquoted value ends at ','; quote lists: BACKUP_VMS = "1,2,3"`]],
    },
  },
  { row: 3, input: 'NAME = "a \\"quoted\\" word"', result: { attributes: [['NAME', 'a "quoted" word']] } },
  { row: 4, input: String.raw`P = "C:\\dir\\x"`, result: { attributes: [['P', String.raw`C:\\dir\\x`]] } },
  {
    row: 5,
    input: String.raw`NL = "line1\nline2"`,
    result: { attributes: [['NL', String.raw`line1\nline2`]] },
  },
  { row: 6, input: 'N = "multi\nline value"', result: { attributes: [['N', 'multi\nline value']] } },
  {
    row: 7,
    input: 'KEY = [ a = "1", B = 2 , c=three ]',
    result: {
      attributes: [
        [
          'KEY',
          [
            ['A', '1'],
            ['B', '2'],
            ['C', 'three'],
          ],
        ],
      ],
    },
  },
  {
    row: 8,
    input: 'KEY = [\nA="1",\nA="2" ]',
    result: {
      attributes: [['KEY', [['A', '1']]]],
      warnings: [[3, 1, 'KEY/A', 'A is given twice in KEY; the first value (line 2) is used']],
    },
  },
  { row: 9, input: 'KEY = [ ]', result: { attributes: [['KEY', []]] } },
  { row: 10, input: 'EMPTY =\n', result: { attributes: [['EMPTY', '']] } },
  {
    row: 11,
    input: 'EMPTY =',
    result: {
      errors: [
        [1, 8, 'EMPTY', `expected a value after '=', found end of file; write EMPTY = "" for an empty value`],
      ],
    },
  },
  {
    row: 12,
    input: 'MEMORY=345 # trailing\nCPU = "4" # trailing',
    result: {
      attributes: [
        ['MEMORY', '345'],
        ['CPU', '4'],
      ],
    },
  },
  {
    row: 13,
    input: 'A = #notcomment',
    result: {
      attributes: [['A', 'notcomment']],
      warnings: [
        [
          1,
          5,
          'A',
          "'#' right after '=' does not start a comment: it is dropped and the value read after it; quote the value if the '#' belongs to it",
        ],
      ],
    },
  },
  { row: 14, input: 'FOO', result: { errors: [[1, 4, 'FOO', "expected '=' after the attribute name"]] } },
  {
    row: 15,
    input: 'NAME = x y',
    result: {
      errors: [
        [
          1,
          11,
          'Y',
          `expected '=' after the attribute name; if "x y" is one value of NAME, quote it: NAME = "x y"`,
        ],
      ],
    },
  },
  {
    row: 16,
    input: '1ABC = "v"\nXML_THING = "v"\nxml_thing="v"',
    result: {
      attributes: [
        ['ONE_1ABC', 'v'],
        ['ONE_XML_THING', 'v'],
        ['XML_THING', 'v'],
      ],
    },
  },
  {
    row: 17,
    input: 'A-B = "v"\nA.B = "v"',
    result: {
      errors: [
        [1, 2, 'A-B', "attribute names may hold only letters, digits and _; '-' is not allowed"],
        [2, 2, 'A.B', "attribute names may hold only letters, digits and _; '.' is not allowed"],
      ],
    },
  },
  {
    row: 18,
    input: 'KEY = [ A = "1" B = "2" ]',
    result: { errors: [[1, 17, 'KEY', "expected ',' or ']' after the value of A, found 'B'"]] },
  },
  {
    row: 19,
    input: 'KEY = [ A = "1", ]',
    result: {
      errors: [
        [1, 18, 'KEY', "expected another KEY = value after ',', found ']'; remove the trailing comma"],
      ],
    },
  },
  {
    row: 20,
    input: 'A=[B=[C=1]]',
    result: { errors: [[1, 6, 'A/B', "vectors cannot be nested: expected a value after '=', found '['"]] },
  },
  { row: 21, input: 'NAME = "unterminated', result: { errors: [[1, 8, 'NAME', UNTERMINATED]] } },
  { row: 22, input: 'D = "this never closes', result: { errors: [[1, 5, 'D', UNTERMINATED]] } },
  { row: 23, input: 'A = "x"y', result: { attributes: [['A', '"x"y']] } },
  { row: 24, input: "A = 'single'", result: { attributes: [['A', "'single'"]] } },
  { row: 25, input: String.raw`A = \"x\"`, result: { attributes: [['A', '"x"']] } },
  {
    row: 26,
    input: 'A = "x\\\\"\nB = "y"',
    result: {
      errors: [
        [
          1,
          8,
          'A',
          'a quoted value cannot end with a backslash: \\" is an escaped quote, so the value does not end here',
        ],
      ],
    },
  },
  {
    row: 27,
    input: 'A = "k=v, [x] # not comment"',
    result: { attributes: [['A', 'k=v, [x] # not comment']] },
  },
  {
    row: 28,
    input: 'A = "  padded  "\nV = [ X = "  p  " ]',
    result: {
      attributes: [
        ['A', 'padded'],
        ['V', [['X', 'p']]],
      ],
    },
  },
  {
    row: 29,
    input: 'A = "]]>"',
    result: {
      errors: [
        [
          1,
          6,
          'A',
          "a value cannot contain ']]>': templates are kept in XML CDATA sections, which it would end",
        ],
      ],
    },
  },
  // Product: CRLF is LF, so the quotes are not kept (OpenNebula stores `"1"` with its quotes).
  {
    row: 30,
    input: 'A = "1"\r\nB = "2"\r\n',
    result: {
      attributes: [
        ['A', '1'],
        ['B', '2'],
      ],
    },
  },
  { row: 31, input: '\uFEFFNAME="bom"', result: { attributes: [['NAME', 'bom']] } },
  {
    row: 32,
    input: 'A = "1" B = "2"',
    result: {
      attributes: [
        ['A', '1'],
        ['B', '2'],
      ],
    },
  },
  {
    row: 33,
    input: 'A = [B="1",C="2"]',
    result: {
      attributes: [
        [
          'A',
          [
            ['B', '1'],
            ['C', '2'],
          ],
        ],
      ],
    },
  },
  {
    row: 34,
    input: 'DISK = [A="1"]\nDISK = "single"',
    result: {
      attributes: [
        ['DISK', [['A', '1']]],
        ['DISK', 'single'],
      ],
    },
  },
  {
    row: 35,
    input: 'A = 1.5e3\nB = +7\nC = 0x10',
    result: {
      attributes: [
        ['A', '1.5e3'],
        ['B', '+7'],
        ['C', '0x10'],
      ],
    },
  },
  {
    row: 36,
    input: 'A = [ B = ]',
    result: {
      errors: [[1, 11, 'A/B', `expected a value after '=', found ']'; write B = "" for an empty value`]],
    },
  },
  {
    row: 37,
    input: 'A = "x",',
    result: {
      errors: [
        [1, 8, 'A', "expected a new line, a comment or another attribute after the value of A, found ','"],
      ],
    },
  },
  { row: 38, input: '', result: { attributes: [] } },
  { row: 38, input: '# only comments\n\n   # more\n', result: { attributes: [] } },
  {
    row: 39,
    input: '<TEMPLATE><NAME>x</NAME><V><A>1</A></V></TEMPLATE>',
    result: {
      attributes: [
        ['NAME', 'x'],
        ['V', [['A', '1']]],
      ],
    },
  },
  { row: 40, input: 'A = "tab\there"', result: { attributes: [['A', 'tab\there']] } },
];

/** /work/shared/examples/*.tmpl, byte for byte. */
export const EXAMPLES: Readonly<Record<string, string>> = {
  'backupjob-incremental.tmpl': `# Incremental job with retention, priority, execution mode and two schedules.
NAME = "prod-databases"

BACKUP_VMS   = "21,22,23"
DATASTORE_ID = 101

FS_FREEZE      = "AGENT"
KEEP_LAST      = "7"
MODE           = "INCREMENT"
INCREMENT_MODE = "CBT"

# Higher numbers run first; users may use 0-49.
PRIORITY  = 40
EXECUTION = "SEQUENTIAL"

# Every Monday and Thursday (first run at TIME), forever.
SCHED_ACTION = [
  REPEAT   = "0",
  DAYS     = "1,4",
  END_TYPE = "0",
  TIME     = "1767236400"
]

# Every 12 hours, ten times.
SCHED_ACTION = [
  REPEAT    = "3",
  DAYS      = "12",
  END_TYPE  = "1",
  END_VALUE = "10",
  TIME      = "1767225600"
]
`,
  'backupjob-lowercase.tmpl': `# Keys and enumerated values in lower case; the product must normalise both.
name         = "lab-parallel"
backup_vms   = "40,41,42,43"
datastore_id = 100
mode         = "increment"
increment_mode = "snapshot"
execution    = "parallel"
fs_freeze    = "suspend"
backup_volatile = "yes"
keep_last    = 3
`,
  'backupjob-minimal.tmpl': `# Smallest useful backup job: three VMs, backed up in this order, into backup datastore 100.
NAME         = "nightly-web"
BACKUP_VMS   = "12,7,30"
DATASTORE_ID = 100
`,
  'backupjob-strings.tmpl': String.raw`NAME = "finance backup (weekly)"
BACKUP_VMS = "5"
DATASTORE_ID = "100"
# A quoted value may hold '#', '=', ',' and brackets; \" is the only escape.
DESCRIPTION = "Owner: \"finance\" team # not a comment, k=v, [x]"
# A quoted value may span lines.
NOTES = "line one
line two"
WINPATH = "C:\backups\finance"
`,
  'datastore-local.tmpl': `# A backup datastore in a local directory, zstd-compressed and encrypted.
NAME              = "backups"
TYPE              = "BACKUP_DS"
DS_MAD            = "local"
BASE_PATH         = "/var/lib/onebackup/datastores/backups"
COMPRESSION       = "zstd"
COMPRESSION_LEVEL = "1"
ENCRYPTION        = "YES"
`,
  'host-local.tmpl': `# A hypervisor host whose VM disks are plain files on this machine.
NAME      = "node1"
VM_MAD    = "fs"
TRANSPORT = "local"
`,
  'vm-web.tmpl': `# A VM on node1 with a qcow2 system disk and a raw data disk.
NAME = "web-1"
HOST = "node1"
DISK = [ SOURCE = "/var/lib/vms/web-1/disk.0", FORMAT = "qcow2" ]
DISK = [ SOURCE = "/var/lib/vms/web-1/disk.1", FORMAT = "raw" ]
`,
};

/** What each example parses to, in input order. */
export const EXAMPLE_ATTRIBUTES: Readonly<Record<string, Plain[]>> = {
  'backupjob-incremental.tmpl': [
    ['NAME', 'prod-databases'],
    ['BACKUP_VMS', '21,22,23'],
    ['DATASTORE_ID', '101'],
    ['FS_FREEZE', 'AGENT'],
    ['KEEP_LAST', '7'],
    ['MODE', 'INCREMENT'],
    ['INCREMENT_MODE', 'CBT'],
    ['PRIORITY', '40'],
    ['EXECUTION', 'SEQUENTIAL'],
    [
      'SCHED_ACTION',
      [
        ['REPEAT', '0'],
        ['DAYS', '1,4'],
        ['END_TYPE', '0'],
        ['TIME', '1767236400'],
      ],
    ],
    [
      'SCHED_ACTION',
      [
        ['REPEAT', '3'],
        ['DAYS', '12'],
        ['END_TYPE', '1'],
        ['END_VALUE', '10'],
        ['TIME', '1767225600'],
      ],
    ],
  ],
  'backupjob-lowercase.tmpl': [
    ['NAME', 'lab-parallel'],
    ['BACKUP_VMS', '40,41,42,43'],
    ['DATASTORE_ID', '100'],
    ['MODE', 'increment'],
    ['INCREMENT_MODE', 'snapshot'],
    ['EXECUTION', 'parallel'],
    ['FS_FREEZE', 'suspend'],
    ['BACKUP_VOLATILE', 'yes'],
    ['KEEP_LAST', '3'],
  ],
  'backupjob-minimal.tmpl': [
    ['NAME', 'nightly-web'],
    ['BACKUP_VMS', '12,7,30'],
    ['DATASTORE_ID', '100'],
  ],
  'backupjob-strings.tmpl': [
    ['NAME', 'finance backup (weekly)'],
    ['BACKUP_VMS', '5'],
    ['DATASTORE_ID', '100'],
    ['DESCRIPTION', 'Owner: "finance" team # not a comment, k=v, [x]'],
    ['NOTES', 'line one\nline two'],
    ['WINPATH', String.raw`C:\backups\finance`],
  ],
  'datastore-local.tmpl': [
    ['NAME', 'backups'],
    ['TYPE', 'BACKUP_DS'],
    ['DS_MAD', 'local'],
    ['BASE_PATH', '/var/lib/onebackup/datastores/backups'],
    ['COMPRESSION', 'zstd'],
    ['COMPRESSION_LEVEL', '1'],
    ['ENCRYPTION', 'YES'],
  ],
  'host-local.tmpl': [
    ['NAME', 'node1'],
    ['VM_MAD', 'fs'],
    ['TRANSPORT', 'local'],
  ],
  'vm-web.tmpl': [
    ['NAME', 'web-1'],
    ['HOST', 'node1'],
    [
      'DISK',
      [
        ['SOURCE', '/var/lib/vms/web-1/disk.0'],
        ['FORMAT', 'qcow2'],
      ],
    ],
    [
      'DISK',
      [
        ['SOURCE', '/var/lib/vms/web-1/disk.1'],
        ['FORMAT', 'raw'],
      ],
    ],
  ],
};

/** Values that are hard to print: every character the grammar treats specially, inside quotes. */
export const TRICKY = [
  'NAME = "finance backup (weekly)"',
  'DESCRIPTION = "Owner: \\"finance\\" team # not a comment, k=v, [x]"',
  'NOTES = "line one',
  '  line two\twith a tab"',
  String.raw`WINPATH = "C:\backups\finance"`,
  String.raw`TRAIL = ends\ `,
  String.raw`ESCAPED = "a\\\"b"`,
  'EQ = "a=b"',
  'HASH = "#x"',
  'BRACKETS = "[1] ]]"',
  'TAB = "a\tb"',
  'DISK = [ SOURCE = "/a b", FORMAT = "raw", NOTE = "x, y = [z]" ]',
  'EMPTYV = [ ]',
  'EMPTY = ""',
  'EMPTY2 =',
  'UNICODE = "héllo 😀"',
].join('\n');
