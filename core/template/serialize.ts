/**
 * Templates written back out, as OpenNebula does:
 * - `templateToString`: `to_str` as `onebackupjob show` prints TEMPLATE CONTENTS (SPEC.md 3.4)
 *   and `update` opens in the editor: one `KEY="value"` per line sorted by name (stable for
 *   equal names), `"` escaped as `\"`, vectors as `KEY=[\n  A="1",\n  B="2" ]` with sorted
 *   sub-keys.
 * - `templateToXml`: `to_xml`, compact: children sorted by name, values in CDATA.
 *
 * The text parses back to the same attributes. Two forms differ from OpenNebula's for that:
 * an empty vector is `KEY=[ ]` (OpenNebula prints `KEY=`, which reads back as an empty single
 * value), and a value ending in a backslash gets a blank before its closing quote (which parsing
 * trims) so that the quote is not read as escaped. One name cannot round-trip, by OpenNebula's own
 * rule: `xml_thing` is stored as `XML_THING`, which reads back as `ONE_XML_THING`.
 */
import { cdata, el, render, type XmlNode } from '../xml/build.js';

/** An attribute without positions: what the parser gives, what the store keeps, what the CLI reads. */
export type PrintableAttribute =
  | { readonly kind: 'single'; readonly name: string; readonly value: string }
  | { readonly kind: 'vector'; readonly name: string; readonly values: ReadonlyMap<string, string> };

interface SerializeOptions {
  /** Names left out, e.g. `SCHED_ACTION` in `show` and `update`. */
  readonly omit?: readonly string[] | undefined;
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Kept attributes sorted by name; `sort` is stable, so equal names keep their order. */
function sorted<T extends PrintableAttribute>(attrs: readonly T[], options: SerializeOptions): T[] {
  const omit = new Set(options.omit ?? []);
  return attrs.filter((a) => !omit.has(a.name)).sort((a, b) => byCodeUnits(a.name, b.name));
}

function sortedEntries(values: ReadonlyMap<string, string>): [string, string][] {
  return [...values.entries()].sort(([x], [y]) => byCodeUnits(x, y));
}

function quote(value: string): string {
  const escaped = value.replaceAll('"', '\\"');
  return `"${escaped.endsWith('\\') ? `${escaped} ` : escaped}"`;
}

/** One attribute in `to_str` form, without the line end. */
function attributeToString(a: PrintableAttribute): string {
  if (a.kind === 'single') return `${a.name}=${quote(a.value)}`;
  const entries = sortedEntries(a.values);
  if (entries.length === 0) return `${a.name}=[ ]`;
  return `${a.name}=[\n${entries.map(([k, v]) => `  ${k}=${quote(v)}`).join(',\n')} ]`;
}

/** The whole template, one attribute per line, each line ending in `\n` ('' when empty). */
export function templateToString(
  attrs: readonly PrintableAttribute[],
  options: SerializeOptions = {},
): string {
  return sorted(attrs, options)
    .map((a) => `${attributeToString(a)}\n`)
    .join('');
}

function attributeToXml(a: PrintableAttribute): XmlNode {
  if (a.kind === 'single') return el(a.name, cdata(a.value));
  return el(a.name, ...sortedEntries(a.values).map(([k, v]) => el(k, cdata(v))));
}

/**
 * `<TEMPLATE>` (or `root`) with the attributes as children. An empty vector is `<KEY></KEY>`,
 * as OpenNebula writes it; read back, that is an empty single value.
 */
export function templateToXml(
  attrs: readonly PrintableAttribute[],
  options: SerializeOptions & { readonly root?: string | undefined } = {},
): string {
  return render(el(options.root ?? 'TEMPLATE', ...sorted(attrs, options).map(attributeToXml)));
}
