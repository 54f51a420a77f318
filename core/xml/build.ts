/**
 * A tiny builder for the daemon's XML documents, compact as OpenNebula writes them: no whitespace
 * between elements, an empty element is `<X></X>`, template values in CDATA.
 *
 * Nodes are opaque: only `el`, `text`, `cdata` and `raw` make them, so unescaped text cannot slip
 * in by accident. Each node holds its markup as a string built by concatenation (V8 keeps those
 * as ropes and flattens once), so rendering a large pool is linear in its size.
 *
 * Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF;
 * lone surrogates) are written as U+FFFD: a document with them would not parse anywhere, and one
 * driver message with an escape sequence must not make a whole pool unreadable. A CR in text is
 * written `&#13;` so that parsers do not turn it into LF; inside CDATA it cannot be protected.
 */

const MARKUP: unique symbol = Symbol('XmlNode');

export interface XmlNode {
  readonly [MARKUP]: string;
}

/** A child: a node, or text (escaped when rendered); numbers are written in decimal. */
type XmlChild = XmlNode | string | number;

const node = (markup: string): XmlNode => ({ [MARKUP]: markup });

/** Not XML 1.0 `Char`: these cannot appear in a document, not even as character references. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: exactly the characters XML 1.0 forbids
const NOT_XML_CHAR = /[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF\p{Cs}]/gu;
const FIRST_NOT_XML_CHAR = new RegExp(NOT_XML_CHAR.source, 'u');

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#13;',
};

/** Replaces characters XML 1.0 cannot carry with U+FFFD. */
export function toXmlChars(value: string): string {
  // The test is several times faster than the replace, and almost every value passes it.
  return FIRST_NOT_XML_CHAR.test(value) ? value.replace(NOT_XML_CHAR, '\uFFFD') : value;
}

/** The first character of value that XML 1.0 cannot carry, if any. */
export function findNonXmlChar(value: string): string | undefined {
  return FIRST_NOT_XML_CHAR.exec(value)?.[0];
}

/** Anything escapeXml would change: markup characters, CR, and characters XML cannot carry. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters XML 1.0 forbids
const NEEDS_ESCAPE = /[&<>"'\r\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;

/** Text escaped for element content or a quoted attribute value. */
export function escapeXml(value: string): string {
  // Most values (IDs, names, times) need nothing: one scan instead of two replaces.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return toXmlChars(value).replace(/[&<>"'\r]/g, (c) => ESCAPES[c] as string);
}

/** XML names as we write them: ASCII letters, digits, `_ . - :`, and any non-ASCII letter. */
const NAME = /^[A-Za-z_:\u0080-\uFFFF][\w.:\u0080-\uFFFF-]*$/;
const VALID_NAMES = new Set<string>();

/** An element; string children are escaped text. Throws TypeError on an invalid name. */
export function el(name: string, ...children: readonly XmlChild[]): XmlNode {
  if (!VALID_NAMES.has(name)) {
    if (!NAME.test(name)) throw new TypeError(`${JSON.stringify(name)} is not a valid XML element name`);
    // Documents repeat a few dozen names thousands of times: check each name once.
    if (VALID_NAMES.size < 10_000) VALID_NAMES.add(name);
  }
  let markup = `<${name}>`;
  for (const c of children) {
    markup += typeof c === 'string' ? escapeXml(c) : typeof c === 'number' ? String(c) : c[MARKUP];
  }
  return node(`${markup}</${name}>`);
}

/** Escaped text, for when a child must be a node. */
export function text(value: string | number): XmlNode {
  return node(typeof value === 'number' ? String(value) : escapeXml(value));
}

/**
 * Text in CDATA. A `]]>` inside is split across two sections (`]]]]><![CDATA[>`), the same way
 * libxml2 writes it, so every parser reads the text back intact.
 */
export function cdata(value: string): XmlNode {
  return node(`<![CDATA[${toXmlChars(value).replaceAll(']]>', ']]]]><![CDATA[>')}]]>`);
}

/** Markup inserted as is. The caller vouches that it is well-formed. */
export function raw(xml: string): XmlNode {
  return node(xml);
}

export function render(n: XmlNode): string {
  return n[MARKUP];
}
