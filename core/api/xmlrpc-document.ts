/**
 * Reading an XML-RPC document (core/api/xmlrpc.ts frames calls and responses on it) into
 * xml2js's tree shape, and walking that tree.
 *
 * Synchronous: xml2js runs its SAX parser inside `parseString` and emits `end`/`error` before
 * returning unless its `async` option is set (we never set it, and we check that it finished).
 * Everything here throws XmlRpcDecodeError only: not well-formed XML, a DOCTYPE (refused, so no
 * entity is ever declared, let alone expanded; sax knows only the five predefined entities),
 * content after the root, text beside elements, characters XML 1.0 forbids.
 */
import { createRequire } from 'node:module';
import type * as Xml2js from 'xml2js';
import { findNonXmlChar } from '../xml/build.js';
import { parseXmlTree, type XmlElement as XmlTreeElement } from '../xml/tree.js';

export class XmlRpcDecodeError extends Error {
  override readonly name = 'XmlRpcDecodeError';
}

// ---------------------------------------------------------------------------------------------
// Reading xml2js's tree. With its default shape (explicitArray, no explicitChildren; ~2.5 times
// faster than keeping document order across names, which XML-RPC never needs) an element is a
// string when it holds no element (its text; '' when empty), else an object mapping each child
// name to the list of those children in document order, plus TEXT for any non-blank text.

/** xml2js's charkey: `#` cannot start an element name, so no element can collide with it. */
const TEXT = '#text';

// Loaded on first use: the CLIs read responses with core/xml/tree.ts and rarely need xml2js,
// whose loading is a measurable part of a CLI's start.
const requireCjs = createRequire(import.meta.url);
let xml2jsModule: typeof Xml2js | undefined;
function xml2js(): typeof Xml2js {
  xml2jsModule ??= requireCjs('xml2js') as typeof Xml2js;
  return xml2jsModule;
}

export interface RawNode {
  readonly name: string;
  readonly body: unknown;
}

export const show = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);

/** The child elements of n; text beside them must be blank. */
export function elements(n: RawNode): RawNode[] {
  const body = n.body;
  if (typeof body === 'string') {
    if (/\S/.test(body)) throw new XmlRpcDecodeError(`<${n.name}> holds text ${show(body.trim())}`);
    return [];
  }
  if (typeof body !== 'object' || body === null) throw new XmlRpcDecodeError(`<${n.name}> is malformed`);
  const out: RawNode[] = [];
  for (const [name, list] of Object.entries(body)) {
    if (name === TEXT) {
      if (typeof list === 'string' && /\S/.test(list)) {
        throw new XmlRpcDecodeError(`<${n.name}> holds text ${show(list.trim())}`);
      }
      continue;
    }
    // xml2js seeds a name that Object.prototype has (`constructor`, `__proto__`...) with the
    // inherited value; no XML-RPC element has such a name anyway.
    if (Object.hasOwn(Object.prototype, name) || !Array.isArray(list)) {
      throw new XmlRpcDecodeError(`<${n.name}> holds an unexpected <${name}>`);
    }
    for (const child of list) out.push({ name, body: child });
  }
  return out;
}

/** The text of n, which must hold no element. */
export function textOf(n: RawNode): string {
  if (typeof n.body === 'string') return n.body;
  const first = elements(n)[0];
  throw new XmlRpcDecodeError(`<${n.name}> holds an element <${first?.name ?? '?'}>, not text`);
}

/** The one child element of n called `name`, and nothing else. */
export function only(n: RawNode, name: string): RawNode {
  const kids = elements(n);
  const first = kids[0];
  if (!first) throw new XmlRpcDecodeError(`<${n.name}> has no <${name}>`);
  if (kids.length > 1) throw new XmlRpcDecodeError(`<${n.name}> holds more than one element`);
  if (first.name !== name) throw new XmlRpcDecodeError(`<${n.name}> holds <${first.name}>, not <${name}>`);
  return first;
}

/** XML 1.0 `Char` only (sax lets C0 controls and lone surrogates through). */
export function checkChars(s: string, where: string): string {
  const bad = findNonXmlChar(s);
  if (bad !== undefined) {
    const cp = (bad.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
    throw new XmlRpcDecodeError(`${where} holds U+${cp}, which XML does not allow`);
  }
  return s;
}

export function parseDocument(xml: unknown, rootName: 'methodCall' | 'methodResponse'): RawNode {
  if (typeof xml !== 'string') throw new XmlRpcDecodeError(`the body is a ${typeof xml}, not text`);
  if (xml.trim() === '') throw new XmlRpcDecodeError('the body is empty');
  // XML reads CRLF and CR as LF before parsing (sax does not).
  const src = xml.replace(/\r\n?/g, '\n');
  // No client escapes a DOCTYPE into CDATA or a comment, so refusing the text anywhere is safe.
  if (/<!DOCTYPE/i.test(src)) throw new XmlRpcDecodeError('a DOCTYPE is not allowed');

  const parser = new (xml2js().Parser)({
    charkey: TEXT,
    ignoreAttrs: true,
    explicitRoot: true,
    strict: true,
    async: false,
  });
  const roots: unknown[] = [];
  let failure: unknown;
  let finished = false;
  // Listeners rather than parseString's callback: the callback path resets the parser at the
  // root's end tag and then swallows errors after it (trailing garbage).
  parser.on('end', (result: unknown) => {
    finished = true;
    roots.push(result);
  });
  parser.on('error', (err: unknown) => {
    finished = true;
    failure ??= err;
  });
  try {
    parser.parseString(src);
  } catch (err) {
    finished = true;
    failure ??= err;
  }
  if (failure !== undefined) {
    const m = failure instanceof Error ? failure.message : String(failure);
    const [what = 'unknown error', line, column] = m.split('\n');
    const l = /\d+/.exec(line ?? '')?.[0];
    const c = /\d+/.exec(column ?? '')?.[0];
    const where = l !== undefined && c !== undefined ? ` (line ${Number(l) + 1}, column ${c})` : '';
    throw new XmlRpcDecodeError(`not well-formed XML: ${what.replace(/\.$/, '')}${where}`);
  }
  if (!finished) throw new XmlRpcDecodeError('the XML parser did not finish synchronously');
  if (roots.length !== 1 || roots[0] === null || typeof roots[0] !== 'object') {
    throw new XmlRpcDecodeError(roots.length > 1 ? 'more than one root element' : 'no root element');
  }
  const [name, body] = Object.entries(roots[0])[0] ?? ['?', ''];
  if (name !== rootName) throw new XmlRpcDecodeError(`expected <${rootName}>, got <${name}>`);
  return { name, body };
}

/**
 * A response parsed with our own reader (core/xml/tree.ts) into xml2js's shape: about twice as
 * fast on the megabyte-sized pool documents `list` receives. Responses come from onebackupd or
 * oned, which never write attributes; anything the reader refuses goes through xml2js instead,
 * so the answer (or the error) is the same as before.
 */
export function parseResponse(xml: string): RawNode {
  let tree: XmlTreeElement;
  try {
    if (/<!DOCTYPE/i.test(xml)) return parseDocument(xml, 'methodResponse');
    tree = parseXmlTree(xml);
  } catch {
    return parseDocument(xml, 'methodResponse');
  }
  if (tree.name !== 'methodResponse')
    throw new XmlRpcDecodeError(`expected <methodResponse>, got <${tree.name}>`);
  return { name: tree.name, body: treeBody(tree) };
}

function treeBody(e: XmlTreeElement): unknown {
  let text = '';
  let lists: Map<string, unknown[]> | undefined;
  for (const c of e.children) {
    if (c.kind === 'text' || c.kind === 'cdata') text += c.value;
    else if (c.kind === 'element') {
      lists ??= new Map();
      const list = lists.get(c.name);
      if (list) list.push(treeBody(c));
      else lists.set(c.name, [treeBody(c)]);
    }
  }
  if (!lists) return text;
  const body: Record<string, unknown> = Object.fromEntries(lists);
  if (/\S/.test(text)) body[TEXT] = text;
  return body;
}
