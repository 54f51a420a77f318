import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ColumnDef,
  csvLine,
  describeColumns,
  describeTable,
  formatTable,
  renderTable,
  TableError,
  type TableOptions,
} from '../../../cli/format/table.js';

interface Vm {
  readonly id: number;
  readonly name: string;
  readonly state: string;
  readonly host: string;
  readonly mem: string;
}

const COLUMNS: ColumnDef<Vm>[] = [
  {
    name: 'ID',
    description: 'ONE identifier for Virtual Machine',
    width: 3,
    truncate: false,
    value: (v) => String(v.id),
  },
  {
    name: 'NAME',
    description: 'Name of the Virtual Machine',
    width: 8,
    align: 'left',
    expand: true,
    value: (v) => v.name,
  },
  { name: 'STAT', description: 'Actual status', width: 4, align: 'left', value: (v) => v.state },
  {
    name: 'HOST',
    description: 'Host where the VM is running',
    width: 6,
    align: 'left',
    value: (v) => v.host,
  },
  { name: 'MEM', description: 'Memory', width: 5, hidden: true, value: (v) => v.mem },
];

const VMS: Vm[] = [
  { id: 7, name: 'web-1', state: 'runn', host: 'node1', mem: '2G' },
  { id: 12, name: 'database-primary', state: 'poff', host: 'node2', mem: '16G' },
  { id: 103, name: 'cache', state: 'err', host: 'node1', mem: '512M' },
];

const table = (options: TableOptions = {}) => formatTable(COLUMNS, VMS, options);
const ids = (filter: string[], operator?: string) =>
  table({ filter, operator, list: ['ID'], noHeader: true })
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.trim());

describe('formatTable layout', () => {
  it('pads the header as is, right-trims rows, cuts truncating columns, widens the others', () => {
    assert.equal(
      table(),
      ' ID NAME     STAT HOST  \n' +
        '  7 web-1    runn node1\n' +
        ' 12 database poff node2\n' +
        '103 cache    err  node1\n',
    );
  });

  it('hidden columns are left out by default and can be picked with -l', () => {
    assert.equal(table({ list: ['mem', 'id'] }), '  MEM  ID\n   2G   7\n  16G  12\n 512M 103\n');
  });

  it('--no-header drops the header', () => {
    assert.equal(table({ noHeader: true, list: ['NAME'] }), 'web-1\ndatabase\ncache\n');
  });

  it('an empty list prints the header alone', () => {
    assert.equal(formatTable(COLUMNS, [], {}), ' ID NAME     STAT HOST  \n');
  });

  it('-l with an unknown column fails as ONE does', () => {
    assert.throws(() => table({ list: ['ID', 'NOPE'] }), {
      name: 'Error',
      message: 'Column NOPE not defined.',
    });
    assert.throws(() => table({ list: ['NOPE'] }), TableError);
  });

  it('--adjust widens a truncating column; -s fixes a width and cuts to it', () => {
    assert.equal(
      table({ adjust: ['name'], list: ['NAME'] }),
      'NAME            \nweb-1\ndatabase-primary\ncache\n',
    );
    assert.equal(
      table({ size: ['name=4', 'ID=2'], list: ['ID', 'NAME'] }),
      'ID NAME\n 7 web-\n12 data\n10 cach\n',
    );
    assert.throws(() => table({ size: ['name'] }), /Size 'name' incorrect, use COLUMN=WIDTH/);
  });

  it('counts characters, not UTF-16 units', () => {
    const rows: Vm[] = [{ id: 1, name: 'caf\u00e9-\u{1f600}-long', state: 'runn', host: 'h', mem: '' }];
    assert.equal(formatTable(COLUMNS, rows, { list: ['NAME'], noHeader: true }), 'caf\u00e9-\u{1f600}-l\n');
  });
});

describe('formatTable -f and --operator', () => {
  it('= != < <= > >= compare the formatted strings', () => {
    assert.deepEqual(ids(['HOST=node1']), ['7', '103']);
    assert.deepEqual(ids(['HOST!=node1']), ['12']);
    // Strings, as ONE: "103" < "12" < "7".
    assert.deepEqual(ids(['ID<12']), ['103']);
    assert.deepEqual(ids(['ID<=12']), ['12', '103']);
    assert.deepEqual(ids(['ID>12']), ['7']);
    assert.deepEqual(ids(['ID>=12']), ['7', '12']);
  });

  it('~ keeps values containing the text (a substring, as ONE, not a regexp)', () => {
    assert.deepEqual(ids(['NAME~a']), ['12', '103']);
    assert.deepEqual(ids(['NAME~web-']), ['7']);
    assert.deepEqual(ids(['NAME~.']), []);
  });

  it('filters on the full value, not the cut cell, and on default columns not shown', () => {
    assert.deepEqual(ids(['NAME=database-primary']), ['12']);
    assert.deepEqual(ids(['STAT=poff']), ['12']);
  });

  it('AND by default, OR with --operator OR (any case)', () => {
    assert.deepEqual(ids(['HOST=node1', 'STAT=err']), ['103']);
    assert.deepEqual(ids(['HOST=node2', 'STAT=err'], 'or'), ['12', '103']);
    assert.deepEqual(ids(['HOST=node2', 'STAT=err'], 'AND'), []);
  });

  it('a value may hold an operator; the column name is any case', () => {
    const rows: Vm[] = [{ id: 1, name: 'a=b', state: 'runn', host: 'h', mem: '' }];
    assert.equal(formatTable(COLUMNS, rows, { filter: ['name=a=b'], list: ['ID'], noHeader: true }), '  1\n');
  });

  it('errors: no operator, unknown column, unknown logical operator', () => {
    assert.throws(() => ids(['NAME']), { message: "Expression 'NAME' incorrect" });
    assert.throws(() => ids(['NOPE=1']), { message: "Column 'NOPE' not found" });
    // MEM is defined but neither a default column nor listed: ONE cannot filter on it either.
    assert.throws(() => ids(['MEM=2G']), { message: "Column 'MEM' not found" });
    assert.throws(() => ids(['ID=7'], 'XOR'), { message: "Operator 'XOR' not valid, use AND or OR" });
  });
});

describe('formatTable --csv', () => {
  it('prints every value untruncated, with the -l order and the header unless --no-header', () => {
    assert.equal(
      table({ csv: true, list: ['NAME', 'ID', 'MEM'] }),
      'NAME,ID,MEM\nweb-1,7,2G\ndatabase-primary,12,16G\ncache,103,512M\n',
    );
    assert.equal(table({ csv: true, noHeader: true, list: ['ID'] }), '7\n12\n103\n');
  });

  it('--csv-del changes the delimiter, and filters still apply', () => {
    assert.equal(
      table({ csv: true, csvDelimiter: ';', filter: ['HOST=node1'] }),
      'ID;NAME;STAT;HOST\n7;web-1;runn;node1\n103;cache;err;node1\n',
    );
  });

  it("quotes as Ruby's CSV.generate_line: empty fields, quotes, line breaks, the delimiter", () => {
    assert.equal(
      csvLine(['a', '', 'say "hi"', 'x\ny', 'p,q', 'r;s']),
      'a,"","say ""hi""","x\ny","p,q",r;s\n',
    );
    assert.equal(csvLine(['p,q', 'r;s'], ';'), 'p,q;"r;s"\n');
  });
});

describe('formatTable on a terminal', () => {
  it('bold and underlined header, STAT coloured by state', () => {
    const out = table({ tty: true });
    const lines = out.split('\n');
    assert.equal(lines[0], '\u001b[1m\u001b[4m ID NAME     STAT HOST  \u001b[0m');
    assert.equal(lines[1], '  7 web-1    \u001b[32mrunn\u001b[0m node1');
    assert.equal(lines[2], ' 12 database poff node2');
    assert.equal(lines[3], '103 cache    \u001b[31merr \u001b[0m node1');
  });

  it('expand columns fill the terminal width; --no-expand keeps the widths', () => {
    // 3+8+4+6 = 21 and 3 blanks: 16 left, all to NAME.
    const out = table({ tty: { columns: 40 }, list: ['ID', 'NAME', 'STAT', 'HOST'] });
    assert.equal(out.split('\n')[2], ` 12 ${'database-primary'.padEnd(24)} poff node2`);
    assert.equal(table({ tty: { columns: 40 }, noExpand: true }).split('\n')[2], ' 12 database poff node2');
    // A width alone expands without styling (ONE also expands on a pipe with a controlling terminal).
    assert.equal(table({ terminalWidth: 40 }).split('\n')[0], ` ID ${'NAME'.padEnd(24)} STAT HOST  `);
  });

  it('--expand with shares and --expand for all columns', () => {
    // 40 - 3 blanks - 21 = 16: HOST gets 0.25 (4), NAME 0.5 (8), the 4 left over go to the
    // last expand column, NAME (listed again by its own `expand`).
    const shares = table({ terminalWidth: 40, expand: ['host=0.25', 'name=0.5'] });
    assert.equal(shares.split('\n')[0], ` ID ${'NAME'.padEnd(20)} STAT ${'HOST'.padEnd(10)}`);
    // All columns by width: ID +2, NAME +6, STAT +3, HOST +5; ID now cuts.
    const all = table({ terminalWidth: 40, expand: true });
    assert.equal(all.split('\n')[0], `   ID ${'NAME'.padEnd(14)} ${'STAT'.padEnd(7)} ${'HOST'.padEnd(11)}`);
  });

  it('no room left: widths unchanged', () => {
    assert.equal(table({ terminalWidth: 10 }), table());
  });
});

describe('--describe', () => {
  it('prints %-20s: %-20s for every defined column', () => {
    assert.equal(
      describeTable(COLUMNS),
      'ID                  : ONE identifier for Virtual Machine\n' +
        'NAME                : Name of the Virtual Machine\n' +
        'STAT                : Actual status       \n' +
        'HOST                : Host where the VM is running\n' +
        'MEM                 : Memory              \n',
    );
  });
});

describe('first column shape (renderTable, describeColumns)', () => {
  it('maps size/left/adjust/describe onto the same layout', () => {
    const legacy = [
      { name: 'ID', describe: 'id', size: 3, adjust: true, value: (v: Vm) => String(v.id) },
      { name: 'NAME', describe: 'name', size: 8, left: true, value: (v: Vm) => v.name },
    ];
    assert.equal(renderTable(legacy, VMS), ' ID NAME    \n  7 web-1\n 12 database\n103 cache\n');
    assert.equal(
      describeColumns(legacy),
      `${'ID'.padEnd(20)}: ${'id'.padEnd(20)}\n${'NAME'.padEnd(20)}: ${'name'.padEnd(20)}\n`,
    );
  });
});
