/**
 * OpenNebula's list tables (`CLIHelper::ShowTable` in src/cli/cli_helper.rb), for every CLI.
 *
 * Layout: the shown columns joined by one space, each `%[-]N.Ns` (cut to its width) or, when it
 * does not truncate (ONE's `:adjust`), `%[-]Ns` after widening it to its longest value. The
 * header is written as is, trailing blanks kept (bold and underlined on a terminal); data rows
 * are right-trimmed. With a terminal width, the `expand` columns grow to fill it.
 *
 * Options (all as ONE's): `-l` picks and orders columns; `--csv` / `--csv-del` print the
 * untruncated values as Ruby's CSV.generate_line does; `-f COL<op>VALUE` keeps rows whose
 * formatted value compares true, op one of `= != < <= > >= ~` (string comparison; `~` is
 * "contains"); `--operator AND|OR`; `--no-header`; `--adjust`; `-s COL=N`; `--expand`,
 * `--no-expand`; `--describe` (describeTable).
 *
 * Departures from ONE, all where ONE misbehaves: `<=` and `>=` work (ONE's regexp tries `<`
 * first and compares against "=7"); an unknown `--operator` or a malformed `-s` is an error
 * (ONE treats the first as AND and the second as width 0); `--adjust` measures the column it
 * names (ONE measures the column at that position of the default list once `-l` reorders).
 */
import { CliError } from '../cli-error.js';

type Align = 'left' | 'right';

export interface ColumnDef<T> {
  /** Upper case; what `-l`, `-f`, `-s`, `--adjust` and `--expand` name. */
  readonly name: string;
  /** One line for `--describe`. */
  readonly description: string;
  /** Width in characters; the header is cut to it too unless the column does not truncate. */
  readonly width: number;
  /** ShowTable's default is right. */
  readonly align?: Align;
  /** false is ONE's `:adjust`: never cut, widen to the longest value. Default true. */
  readonly truncate?: boolean;
  /** Grows to fill a terminal: true shares the free width by column width, a number is a share (0.4). */
  readonly expand?: boolean | number;
  /** Defined (for `-l`, `-f` and `--describe`) but not in the default list. */
  readonly hidden?: boolean;
  readonly value: (row: T) => string;
}

export interface TableOptions {
  /** `-l`: columns to show, in this order (any case). */
  readonly list?: readonly string[] | undefined;
  readonly csv?: boolean | undefined;
  /** `--csv-del`; only read with `csv`. */
  readonly csvDelimiter?: string | undefined;
  /** `-f`: `COL=value` and the other operators. */
  readonly filter?: readonly string[] | undefined;
  /** `--operator`: AND (default) or OR, any case. */
  readonly operator?: string | undefined;
  readonly noHeader?: boolean | undefined;
  /** `--adjust`: widen these columns to their longest value instead of cutting. */
  readonly adjust?: readonly string[] | undefined;
  /** `-s`: `COL=N` fixes a width (and cuts to it). */
  readonly size?: readonly string[] | undefined;
  /** `--expand`: true for every shown column, or names, each optionally `NAME=share`. */
  readonly expand?: true | readonly string[] | undefined;
  readonly noExpand?: boolean | undefined;
  /**
   * stdout is a terminal: bold and underlined header, coloured STAT column. `{ columns }` also
   * gives the terminal width, which enables expansion (as `terminalWidth` does).
   */
  readonly tty?: boolean | { readonly columns: number } | undefined;
  /** Width to expand to; ONE also expands when only the controlling terminal is known. */
  readonly terminalWidth?: number | undefined;
  /** Column coloured by state on a terminal (ONE's `stat_column`); default STAT. */
  readonly stateColumn?: string | undefined;
}

/** A wrong `-l`, `-f`, `-s`, `--operator`...: a user error, printed as the sentence alone. */
export class TableError extends CliError {}

const ESC = '\u001b';
const BOLD = `${ESC}[1m`;
const UNDERLINE = `${ESC}[4m`;
const RESET = `${ESC}[0m`;

/** Characters as Ruby counts them (code points), for widths. */
const chars = (s: string): string[] => Array.from(s);
const length = (s: string): number => chars(s).length;

function pad(s: string, width: number, align: Align): string {
  const n = length(s);
  if (n >= width) return s;
  const fill = ' '.repeat(width - n);
  return align === 'left' ? s + fill : fill + s;
}

/** Ruby's `format("%-N.Ns")` (cut) or `format("%-Ns")` (no cut). */
function fit(s: string, width: number, align: Align, cut: boolean): string {
  const v = cut && length(s) > width ? chars(s).slice(0, width).join('') : s;
  return pad(v, width, align);
}

/** `--describe`: `%-20s: %-20s` per defined column, in definition order. */
export function describeTable<T>(columns: readonly ColumnDef<T>[]): string {
  return columns.map((c) => `${pad(c.name, 20, 'left')}: ${pad(c.description, 20, 'left')}\n`).join('');
}

/**
 * One CSV line as Ruby's CSV.generate_line: a field is quoted (inner `"` doubled) when it is
 * empty or holds CR, LF, `"` or a character of the delimiter.
 */
export function csvLine(fields: readonly string[], delimiter = ','): string {
  const special = new Set(['\r', '\n', '"', ...chars(delimiter)]);
  const quote = (f: string) =>
    f === '' || chars(f).some((ch) => special.has(ch)) ? `"${f.replaceAll('"', '""')}"` : f;
  return `${fields.map(quote).join(delimiter)}\n`;
}

type Operator = '=' | '!=' | '<' | '<=' | '>' | '>=' | '~';

interface Stem {
  readonly column: string;
  readonly operator: Operator;
  readonly right: string;
}

function compare(left: string, op: Operator, right: string): boolean {
  switch (op) {
    case '=':
      return left === right;
    case '!=':
      return left !== right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    case '~':
      return left.includes(right);
  }
}

function parseFilters(filters: readonly string[], filterable: ReadonlySet<string>): Stem[] {
  return filters.map((f) => {
    const m = /^(.*?)(!=|<=|>=|=|<|>|~)(.*)$/s.exec(f);
    if (!m) throw new TableError(`Expression '${f}' incorrect`);
    const left = m[1] ?? '';
    const column = left.toUpperCase();
    if (!filterable.has(column)) throw new TableError(`Column '${left}' not found`);
    return { column, operator: m[2] as Operator, right: m[3] ?? '' };
  });
}

const OK_STATES = new Set(['runn', 'rdy', 'on', 'SUCCESS', 'RUNNING']);
const BAD_STATES = new Set([
  'fail',
  'err',
  'error',
  'ERROR',
  'FAILED_DEPLOYING',
  'FAILED_DEPLOYING_NETS',
  'FAILED_UNDEPLOYING',
  'FAILED_UNDEPLOYING_NETS',
  'FAILED_SCALING',
]);
const REGULAR_STATES = new Set([
  'PENDING',
  'DEPLOYING',
  'DEPLOYING_NETS',
  'UNDEPLOYING',
  'UNDEPLOYING_NETS',
  'CONFIGURING',
  'WARNING',
]);

/** CLIHelper.color_state: green, red or yellow around the padded cell. */
function colorState(cell: string): string {
  const s = cell.trim();
  const color = OK_STATES.has(s)
    ? `${ESC}[32m`
    : BAD_STATES.has(s)
      ? `${ESC}[31m`
      : REGULAR_STATES.has(s)
        ? `${ESC}[33m`
        : '';
  return color === '' ? cell : `${color}${cell}${RESET}`;
}

interface Size {
  width: number;
  truncate: boolean;
}

export function formatTable<T>(
  columns: readonly ColumnDef<T>[],
  rows: readonly T[],
  options: TableOptions = {},
): string {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const column = (name: string): ColumnDef<T> => {
    const c = byName.get(name);
    if (!c) throw new TableError(`Column ${name} not defined.`);
    return c;
  };
  const defaults = columns.filter((c) => !c.hidden).map((c) => c.name);
  const shown = (options.list ?? defaults).map((n) => n.toUpperCase());
  for (const n of shown) column(n);

  const operator = (options.operator ?? 'AND').toUpperCase();
  if (operator !== 'AND' && operator !== 'OR')
    throw new TableError(`Operator '${options.operator}' not valid, use AND or OR`);
  const stems = parseFilters(options.filter ?? [], new Set([...defaults, ...shown]));

  // Values are computed once, and only for the columns shown or filtered on.
  const needed = [...new Set([...shown, ...stems.map((s) => s.column)])];
  let data = rows.map((r) => new Map(needed.map((n) => [n, column(n).value(r)])));
  if (stems.length > 0) {
    const test = (d: Map<string, string>, s: Stem) => compare(d.get(s.column) ?? '', s.operator, s.right);
    data = data.filter((d) =>
      operator === 'OR' ? stems.some((s) => test(d, s)) : stems.every((s) => test(d, s)),
    );
  }
  const cellsOf = (d: Map<string, string>) => shown.map((n) => d.get(n) ?? '');

  if (options.csv) {
    const del = options.csvDelimiter ?? ',';
    const head = options.noHeader ? '' : csvLine(shown, del);
    return head + data.map((d) => csvLine(cellsOf(d), del)).join('');
  }

  const sizes = new Map<string, Size>(
    columns.map((c) => [c.name, { width: c.width, truncate: c.truncate ?? true }]),
  );
  const size = (name: string): Size => sizes.get(name) ?? { width: 0, truncate: true };
  const expandAll = options.expand === true;

  // --adjust and the columns that never truncate widen to their longest value (not with --expand).
  if (!expandAll) {
    const adjust = [
      ...(options.adjust ?? []).map((n) => n.toUpperCase()),
      ...shown.filter((n) => column(n).truncate === false),
    ];
    for (const name of adjust) {
      column(name);
      if (!shown.includes(name)) continue;
      const longest = Math.max(0, ...data.map((d) => length(d.get(name) ?? '')));
      if (longest > size(name).width) sizes.set(name, { width: longest, truncate: false });
    }
  }

  for (const spec of options.size ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(spec.trim());
    if (!m) throw new TableError(`Size '${spec}' incorrect, use COLUMN=WIDTH`);
    const name = (m[1] ?? '').toUpperCase();
    column(name);
    sizes.set(name, { width: Number(m[2]), truncate: true });
  }

  const terminal =
    options.terminalWidth ?? (typeof options.tty === 'object' ? options.tty.columns : undefined);
  if (terminal !== undefined && !options.noExpand) {
    const wanted: string[] = expandAll
      ? [...shown]
      : [
          ...(Array.isArray(options.expand) ? options.expand : []),
          ...shown.flatMap((n) => {
            const e = column(n).expand;
            return e === undefined || e === false ? [] : [typeof e === 'number' ? `${n}=${e}` : n];
          }),
        ];
    expandColumns(wanted, shown, sizes, terminal, expandAll, column);
  }

  const styled = options.tty !== undefined && options.tty !== false;
  const stateColumn = (options.stateColumn ?? 'STAT').toUpperCase();
  const cell = (name: string, value: string) => {
    const s = size(name);
    return fit(value, s.width, column(name).align ?? 'right', s.truncate);
  };
  const out: string[] = [];
  if (!options.noHeader) {
    const header = shown.map((n) => cell(n, n)).join(' ');
    out.push(styled ? `${BOLD}${UNDERLINE}${header}${RESET}` : header);
  }
  for (const d of data) {
    const cells = shown.map((n) => {
      const c = cell(n, d.get(n) ?? '');
      return styled && n === stateColumn ? colorState(c) : c;
    });
    out.push(cells.join(' ').trimEnd());
  }
  return out.map((l) => `${l}\n`).join('');
}

/** ShowTable#expand_columns: share the free terminal width among the expand columns. */
function expandColumns<T>(
  wanted: readonly string[],
  shown: readonly string[],
  sizes: Map<string, Size>,
  terminal: number,
  all: boolean,
  column: (name: string) => ColumnDef<T>,
): void {
  // Each column once, first mention wins; a column not shown has no width to grow.
  const expand = new Map<string, number | undefined>();
  for (const w of wanted) {
    const [name = '', prop] = w.split('=');
    const key = name.toUpperCase();
    column(key);
    if (!expand.has(key) && shown.includes(key))
      expand.set(key, prop === undefined ? undefined : Number(prop) || 0);
  }
  const last = [...expand.keys()].at(-1);
  if (last === undefined) return;
  const width = (name: string) => sizes.get(name)?.width ?? 0;
  const total = shown.reduce((sum, n) => sum + width(n), 0);
  const expandTotal = [...expand.keys()].reduce((sum, n) => sum + width(n), 0);
  const room = terminal - (shown.length - 1);
  const left = room - total;
  if (left <= 0) return;
  let remaining = left;
  for (const [name, share] of expand) {
    const current = width(name);
    const prop = all ? current / total : (share ?? current / expandTotal);
    const add = Math.round(left * prop);
    sizes.set(name, { width: current + add, truncate: true });
    remaining -= add;
  }
  if (remaining > 0) sizes.set(last, { width: width(last) + remaining, truncate: true });
  // Rounding can overshoot: take the excess back from the last one.
  const after = shown.reduce((sum, n) => sum + width(n), 0);
  if (after !== room) sizes.set(last, { width: width(last) - (after - room), truncate: true });
}

// ---------------------------------------------------------------------------------------------
// The first column shape, still used by callers outside cli/format; new code uses ColumnDef.

/** @deprecated Use ColumnDef: `describe` is `description`, `size` is `width`, `left` is `align`, `adjust` is `truncate: false`. */
export interface Column<T> {
  readonly name: string;
  readonly describe: string;
  readonly size: number;
  readonly left?: boolean;
  readonly adjust?: boolean;
  readonly expand?: boolean;
  readonly value: (row: T) => string;
}

function fromColumn<T>(c: Column<T>): ColumnDef<T> {
  return {
    name: c.name,
    description: c.describe,
    width: c.size,
    align: c.left ? 'left' : 'right',
    truncate: !c.adjust,
    expand: c.expand ?? false,
    value: c.value,
  };
}

/** @deprecated Use formatTable with ColumnDef. */
export function renderTable<T>(
  columns: readonly Column<T>[],
  rows: readonly T[],
  options: TableOptions = {},
): string {
  return formatTable(columns.map(fromColumn), rows, options);
}

/** @deprecated Use describeTable with ColumnDef. */
export function describeColumns<T>(columns: readonly Column<T>[]): string {
  return describeTable(columns.map(fromColumn));
}
