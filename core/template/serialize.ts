/**
 * Prints attributes as OpenNebula's `to_str` does in `show` (TEMPLATE CONTENTS) and `update`:
 * one `KEY="value"` per line, sorted by name (stable), `"` escaped as `\"`; vectors as
 * `KEY=[\n  A="1",\n  B="2" ]` with sorted sub-keys; an empty vector as `KEY=[ ]`.
 * The output parses back to the same attributes (a value ending in a backslash gets a trailing
 * blank, which parsing trims, so its closing quote is not read as escaped).
 */
export type PrintableAttribute =
  | { readonly kind: 'single'; readonly name: string; readonly value: string }
  | { readonly kind: 'vector'; readonly name: string; readonly values: ReadonlyMap<string, string> };

function quote(value: string): string {
  const escaped = value.replaceAll('"', '\\"');
  return `"${escaped.endsWith('\\') ? `${escaped} ` : escaped}"`;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function attributeToString(a: PrintableAttribute): string {
  if (a.kind === 'single') return `${a.name}=${quote(a.value)}`;
  const entries = [...a.values.entries()].sort(([x], [y]) => byName(x, y));
  if (entries.length === 0) return `${a.name}=[ ]`;
  return `${a.name}=[\n${entries.map(([k, v]) => `  ${k}=${quote(v)}`).join(',\n')} ]`;
}

export function templateToString(
  attrs: readonly PrintableAttribute[],
  options: { omit?: readonly string[] } = {},
): string {
  return [...attrs]
    .filter((a) => !options.omit?.includes(a.name))
    .sort((a, b) => byName(a.name, b.name))
    .map((a) => `${attributeToString(a)}\n`)
    .join('');
}
