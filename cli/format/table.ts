/**
 * OpenNebula's list tables (cli_helper.rb ShowTable), reproduced for every CLI: fixed-width
 * columns joined by one space, right-aligned unless `left`; `adjust` widens a column to its
 * longest value, otherwise values are truncated; the header is written as is (trailing blanks
 * kept), data rows are right-trimmed. Options: -l columns, --csv, --csv-del, -f filters
 * (= != < <= > >= ~ on the formatted strings), --operator AND|OR, --no-header, --describe,
 * --adjust, -s sizes, and --expand on a terminal.
 */

export interface Column<T> {
  readonly name: string;
  readonly describe: string;
  readonly size: number;
  readonly left?: boolean;
  readonly adjust?: boolean;
  readonly expand?: boolean;
  readonly value: (row: T) => string;
}

export interface TableOptions {
  readonly list?: readonly string[] | undefined;
  readonly csv?: boolean | undefined;
  readonly csvDelimiter?: string | undefined;
  readonly filter?: readonly string[] | undefined;
  readonly operator?: string | undefined;
  readonly noHeader?: boolean | undefined;
  readonly adjust?: readonly string[] | undefined;
  readonly size?: readonly string[] | undefined;
  /** Terminal width when stdout is a terminal: expands `expand` columns and styles the header. */
  readonly tty?: { readonly columns: number } | undefined;
}

export class TableError extends Error {}

const OPERATORS = ['!=', '<=', '>=', '=', '<', '>', '~'] as const;

export function describeColumns<T>(columns: readonly Column<T>[]): string {
  return columns.map((c) => `${c.name.padEnd(20)}: ${c.describe.padEnd(20)}\n`).join('');
}

function csvField(value: string, del: string): string {
  return value.includes(del) || value.includes('"') || value.includes('\n') || value.includes('\r')
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}

function compare(left: string, op: (typeof OPERATORS)[number], right: string): boolean {
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

function parseFilters(filters: readonly string[], names: readonly string[]) {
  return filters.map((f) => {
    const m = /^(.*?)(!=|<=|>=|=|<|>|~)(.*)$/.exec(f);
    if (!m) throw new TableError(`Expression '${f}' incorrect`);
    const index = names.indexOf((m[1] as string).toUpperCase());
    if (index < 0) throw new TableError(`Column '${m[1]}' not found`);
    return { index, op: m[2] as (typeof OPERATORS)[number], right: m[3] as string };
  });
}

export function renderTable<T>(
  columns: readonly Column<T>[],
  rows: readonly T[],
  options: TableOptions = {},
): string {
  const names = columns.map((c) => c.name);
  const shown = (options.list ?? names).map((n) => n.toUpperCase());
  for (const n of shown) if (!names.includes(n)) throw new TableError(`Column ${n} not defined.`);
  let data = rows.map((r) => columns.map((c) => c.value(r)));
  if (options.filter && options.filter.length > 0) {
    const stems = parseFilters(options.filter, names);
    const or = (options.operator ?? 'AND').toUpperCase() === 'OR';
    data = data.filter((d) =>
      or
        ? stems.some((s) => compare(d[s.index] as string, s.op, s.right))
        : stems.every((s) => compare(d[s.index] as string, s.op, s.right)),
    );
  }
  if (options.csv) {
    const del = options.csvDelimiter ?? ',';
    const lines = options.noHeader ? [] : [shown.map((n) => csvField(n, del)).join(del)];
    for (const d of data)
      lines.push(shown.map((n) => csvField(d[names.indexOf(n)] as string, del)).join(del));
    return lines.map((l) => `${l}\n`).join('');
  }

  const sizes = new Map(columns.map((c) => [c.name, { size: c.size, adjust: c.adjust ?? false }]));
  const maxLen = (name: string) => Math.max(0, ...data.map((d) => (d[names.indexOf(name)] as string).length));
  for (const c of columns) {
    const wanted = c.adjust || options.adjust?.map((a) => a.toUpperCase()).includes(c.name);
    if (wanted && maxLen(c.name) > c.size) sizes.set(c.name, { size: maxLen(c.name), adjust: true });
  }
  for (const spec of options.size ?? []) {
    const [n, s] = spec.split('=');
    if (n && s && /^\d+$/.test(s)) sizes.set(n.toUpperCase(), { size: Number(s), adjust: false });
  }
  if (options.tty) expand(columns, shown, sizes, options.tty.columns);

  const cell = (c: Column<T>, value: string) => {
    const { size, adjust } = sizes.get(c.name) as { size: number; adjust: boolean };
    const v = adjust ? value : value.slice(0, size);
    return c.left ? v.padEnd(size) : v.padStart(size);
  };
  const byName = new Map(columns.map((c) => [c.name, c]));
  const out: string[] = [];
  if (!options.noHeader) {
    const header = shown.map((n) => cell(byName.get(n) as Column<T>, n)).join(' ');
    out.push(options.tty ? `\u001b[1m\u001b[4m${header}\u001b[0m` : header);
  }
  for (const d of data) {
    out.push(
      shown
        .map((n) => cell(byName.get(n) as Column<T>, d[names.indexOf(n)] as string))
        .join(' ')
        .trimEnd(),
    );
  }
  return out.map((l) => `${l}\n`).join('');
}

/** Widens the `expand` columns so the table fills the terminal (ShowTable#expand_columns). */
function expand<T>(
  columns: readonly Column<T>[],
  shown: readonly string[],
  sizes: Map<string, { size: number; adjust: boolean }>,
  terminal: number,
): void {
  const expandable = columns.filter((c) => c.expand && shown.includes(c.name));
  if (expandable.length === 0) return;
  const total = shown.reduce((sum, n) => sum + (sizes.get(n)?.size ?? 0), 0);
  const room = terminal - (shown.length - 1) - total;
  if (room <= 0) return;
  const expandTotal = expandable.reduce((sum, c) => sum + (sizes.get(c.name)?.size ?? 0), 0);
  let remaining = room;
  for (const c of expandable) {
    const current = sizes.get(c.name)?.size ?? 0;
    const add = Math.round((room * current) / expandTotal);
    sizes.set(c.name, { size: current + add, adjust: false });
    remaining -= add;
  }
  const last = expandable.at(-1) as Column<T>;
  const lastSize = sizes.get(last.name) as { size: number; adjust: boolean };
  sizes.set(last.name, { size: lastSize.size + remaining, adjust: false });
}
