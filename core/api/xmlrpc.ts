/**
 * XML-RPC codec (https://xmlrpc.com/spec.md) for the daemon and the CLIs, on xml2js.
 *
 * Synchronous: xml2js runs its SAX parser inside `parseString` and emits `end`/`error` before
 * returning unless its `async` option is set (we never set it, and we check that it finished).
 *
 * Decoding never throws anything but XmlRpcDecodeError, whatever the input: not well-formed XML,
 * a DOCTYPE (refused, so no entity is ever declared, let alone expanded; sax knows only the five
 * predefined entities), content after the root, unknown types, bad numbers, dates or base64,
 * characters XML 1.0 forbids, values nested deeper than XML_RPC_MAX_DEPTH.
 *
 * Types, as the clients OpenNebula meets send them (Ruby's xmlrpc, Python's xmlrpc.client as
 * pyone uses it, Go's kolo/xmlrpc) and as xmlrpc-c in oned answers:
 * | wire                                 | decoded as                                           |
 * | `<i4>` `<int>`                       | number (32-bit, else an error)                       |
 * | `<i8>` `<ex:i8>`                     | number (a safe integer, else an error)               |
 * | `<double>`                           | number; XmlRpcDouble when whole, so it stays a double |
 * | `<boolean>` 0/1 (also true/false)    | boolean                                              |
 * | `<string>`, or a `<value>` with text | string, verbatim (line ends read as LF, as XML does) |
 * | `<base64>`                           | Buffer                                               |
 * | `<dateTime.iso8601>`                 | Date (UTC unless the value names a zone)             |
 * | `<array>`, `<struct>`                | array, plain object                                  |
 * | `<nil/>` `<ex:nil/>`                 | null                                                 |
 * Encoding: integers in 32 bits as `<i4>` in responses (xmlrpc-c) and `<int>` in calls (Python,
 * Go); other safe integers as `<i8>`; anything else numeric as `<double>` in plain decimal; strings
 * always `<string>`. Characters XML 1.0 cannot carry become U+FFFD (see core/xml/build.ts).
 * Encoders throw TypeError / RangeError for values XML-RPC has no form for (undefined, NaN,
 * an invalid Date, a class instance, nesting deeper than XML_RPC_MAX_DEPTH).
 */
import { createRequire } from 'node:module';
import type * as Xml2js from 'xml2js';
import { findNonXmlChar, toXmlChars } from '../xml/build.js';
import { parseXmlTree, type XmlElement as XmlTreeElement } from '../xml/tree.js';

/** A number to send as `<double>` even when it is whole (plain whole numbers go as ints). */
export class XmlRpcDouble {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
  toString(): string {
    return String(this.value);
  }
}

/** What decoding yields. */
export type XmlRpcValue =
  | string
  | number
  | boolean
  | null
  | Date
  | Buffer
  | XmlRpcDouble
  | XmlRpcValue[]
  | { [key: string]: XmlRpcValue };

/** What encoding accepts: XmlRpcValue, with read-only arrays and objects allowed. */
export type XmlRpcEncodable =
  | string
  | number
  | boolean
  | null
  | Date
  | Uint8Array
  | XmlRpcDouble
  | readonly XmlRpcEncodable[]
  | { readonly [key: string]: XmlRpcEncodable };

export interface XmlRpcFault {
  readonly code: number;
  readonly message: string;
}

export type XmlRpcResponse = { readonly fault: XmlRpcFault } | { readonly value: XmlRpcValue };

export class XmlRpcDecodeError extends Error {
  override readonly name = 'XmlRpcDecodeError';
}

/** How deep `<value>`s may nest (a top-level parameter is depth 1). */
export const XML_RPC_MAX_DEPTH = 64;

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

interface RawNode {
  readonly name: string;
  readonly body: unknown;
}

const show = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);

/** The child elements of n; text beside them must be blank. */
function elements(n: RawNode): RawNode[] {
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
function textOf(n: RawNode): string {
  if (typeof n.body === 'string') return n.body;
  const first = elements(n)[0];
  throw new XmlRpcDecodeError(`<${n.name}> holds an element <${first?.name ?? '?'}>, not text`);
}

/** The one child element of n called `name`, and nothing else. */
function only(n: RawNode, name: string): RawNode {
  const kids = elements(n);
  const first = kids[0];
  if (!first) throw new XmlRpcDecodeError(`<${n.name}> has no <${name}>`);
  if (kids.length > 1) throw new XmlRpcDecodeError(`<${n.name}> holds more than one element`);
  if (first.name !== name) throw new XmlRpcDecodeError(`<${n.name}> holds <${first.name}>, not <${name}>`);
  return first;
}

/** XML 1.0 `Char` only (sax lets C0 controls and lone surrogates through). */
function checkChars(s: string, where: string): string {
  const bad = findNonXmlChar(s);
  if (bad !== undefined) {
    const cp = (bad.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
    throw new XmlRpcDecodeError(`${where} holds U+${cp}, which XML does not allow`);
  }
  return s;
}

function parseDocument(xml: unknown, rootName: 'methodCall' | 'methodResponse'): RawNode {
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

// ---------------------------------------------------------------------------------------------
// Values

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function decodeInt(text: string, type: string): number {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new XmlRpcDecodeError(`<${type}>${show(t)} is not an integer`);
  const digits = t.replace(/^[+-]?0*/, '');
  const n = digits.length > 20 ? Number.POSITIVE_INFINITY : Number(t);
  if (type === 'i8' || type === 'ex:i8') {
    if (!Number.isSafeInteger(n)) {
      throw new XmlRpcDecodeError(`<${type}>${show(t)} is beyond ±2^53, the integers this server can hold`);
    }
  } else if (!(n >= INT32_MIN && n <= INT32_MAX)) {
    throw new XmlRpcDecodeError(`<${type}>${show(t)} does not fit in 32 bits; use <i8>`);
  }
  return n === 0 ? 0 : n;
}

function decodeDouble(text: string): number | XmlRpcDouble {
  const t = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
    throw new XmlRpcDecodeError(`<double>${show(t)} is not a decimal number`);
  }
  const n = Number(t);
  if (!Number.isFinite(n)) throw new XmlRpcDecodeError(`<double>${show(t)} is out of range`);
  return Number.isInteger(n) ? new XmlRpcDouble(n) : n;
}

function decodeBoolean(text: string): boolean {
  const t = text.trim();
  if (t === '1' || t === 'true') return true;
  if (t === '0' || t === 'false') return false;
  throw new XmlRpcDecodeError(`<boolean>${show(t)} is not 0 or 1`);
}

function decodeBase64(text: string): Buffer {
  const t = text.replace(/\s+/g, '');
  const body = t.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(body) || body.length % 4 === 1 || (t !== body && t.length % 4 !== 0)) {
    throw new XmlRpcDecodeError(`<base64>${show(t)} is not base64`);
  }
  return Buffer.from(body, 'base64');
}

const DATE =
  /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:[.,](\d{1,9}))?(?:(Z)|([+-])(\d{2}):?(\d{2})?)?$/;

function decodeDate(text: string): Date {
  const t = text.trim();
  const bad = () => new XmlRpcDecodeError(`<dateTime.iso8601>${show(t)} is not a date (YYYYMMDDThh:mm:ss)`);
  const m = DATE.exec(t);
  if (!m) throw bad();
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  const utc = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  const same =
    utc.getUTCFullYear() === y &&
    utc.getUTCMonth() === mo - 1 &&
    utc.getUTCDate() === d &&
    utc.getUTCHours() === h &&
    utc.getUTCMinutes() === mi &&
    utc.getUTCSeconds() === s;
  const zh = Number(m[10] ?? '0');
  const zm = Number(m[11] ?? '0');
  if (!same || zh > 23 || zm > 59) throw bad();
  const offset = (m[9] === '-' ? -1 : 1) * (zh * 60 + zm);
  return offset === 0 ? utc : new Date(utc.getTime() - offset * 60_000);
}

function setOwn(obj: { [key: string]: XmlRpcValue }, key: string, value: XmlRpcValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function decodeValue(v: RawNode, depth: number): XmlRpcValue {
  if (depth > XML_RPC_MAX_DEPTH)
    throw new XmlRpcDecodeError(`values nested deeper than ${XML_RPC_MAX_DEPTH}`);
  if (typeof v.body === 'string') return checkChars(v.body, 'a string');
  const t = only(v, elements(v)[0]?.name ?? 'string');
  switch (t.name) {
    case 'string':
      return checkChars(textOf(t), 'a string');
    case 'i4':
    case 'int':
    case 'i8':
    case 'ex:i8':
      return decodeInt(textOf(t), t.name);
    case 'double':
      return decodeDouble(textOf(t));
    case 'boolean':
      return decodeBoolean(textOf(t));
    case 'base64':
      return decodeBase64(textOf(t));
    case 'dateTime.iso8601':
      return decodeDate(textOf(t));
    case 'nil':
    case 'ex:nil':
      if (/\S/.test(textOf(t))) throw new XmlRpcDecodeError(`<${t.name}/> must be empty`);
      return null;
    case 'array': {
      const data = only(t, 'data');
      return elements(data).map((item) => {
        if (item.name !== 'value') throw new XmlRpcDecodeError(`<data> holds <${item.name}>, not <value>`);
        return decodeValue(item, depth + 1);
      });
    }
    case 'struct': {
      const out: { [key: string]: XmlRpcValue } = {};
      for (const member of elements(t)) {
        if (member.name !== 'member')
          throw new XmlRpcDecodeError(`<struct> holds <${member.name}>, not <member>`);
        const parts = elements(member);
        const name = parts.find((p) => p.name === 'name');
        const value = parts.find((p) => p.name === 'value');
        if (!name || !value || parts.length !== 2) {
          throw new XmlRpcDecodeError('a <member> must hold one <name> and one <value>');
        }
        const key = checkChars(textOf(name), 'a member name');
        setOwn(out, key, decodeValue(value, depth + 1));
      }
      return out;
    }
    default:
      throw new XmlRpcDecodeError(`<${t.name}> is not an XML-RPC type`);
  }
}

function asDecodeError(err: unknown): XmlRpcDecodeError {
  if (err instanceof XmlRpcDecodeError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new XmlRpcDecodeError(`cannot decode: ${why}`, { cause: err });
}

/** Server side: a request body to its method name and parameters. */
export function decodeMethodCall(xml: string): { methodName: string; params: XmlRpcValue[] } {
  try {
    const root = parseDocument(xml, 'methodCall');
    let methodName: string | undefined;
    let params: XmlRpcValue[] = [];
    let sawParams = false;
    for (const part of elements(root)) {
      if (part.name === 'methodName' && methodName === undefined) methodName = textOf(part).trim();
      else if (part.name === 'params' && !sawParams) {
        sawParams = true;
        params = elements(part).map((p, i) => {
          if (p.name !== 'param') throw new XmlRpcDecodeError(`<params> holds <${p.name}>, not <param>`);
          try {
            return decodeValue(only(p, 'value'), 1);
          } catch (err) {
            const e = asDecodeError(err);
            throw new XmlRpcDecodeError(`parameter ${i + 1}: ${e.message}`, { cause: e.cause });
          }
        });
      } else throw new XmlRpcDecodeError(`<methodCall> holds an unexpected <${part.name}>`);
    }
    if (methodName === undefined) throw new XmlRpcDecodeError('<methodCall> has no <methodName>');
    if (!/^[A-Za-z0-9_.:/]+$/.test(methodName)) {
      throw new XmlRpcDecodeError(
        methodName === ''
          ? 'the method name is empty'
          : `the method name ${show(methodName)} has characters other than A-Z a-z 0-9 _ . : /`,
      );
    }
    return { methodName, params };
  } catch (err) {
    throw asDecodeError(err);
  }
}

/**
 * A response parsed with our own reader (core/xml/tree.ts) into xml2js's shape: about twice as
 * fast on the megabyte-sized pool documents `list` receives. Responses come from onebackupd or
 * oned, which never write attributes; anything the reader refuses goes through xml2js instead,
 * so the answer (or the error) is the same as before.
 */
function parseResponse(xml: string): RawNode {
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

/** Client side: a response body to its value, or its fault. */
export function decodeMethodResponse(xml: string): XmlRpcResponse {
  try {
    const root = parseResponse(xml);
    const parts = elements(root);
    const body = parts[0];
    if (!body || parts.length > 1)
      throw new XmlRpcDecodeError('<methodResponse> must hold one <params> or <fault>');
    if (body.name === 'fault') {
      const v = decodeValue(only(body, 'value'), 1);
      if (
        v === null ||
        typeof v !== 'object' ||
        Array.isArray(v) ||
        v instanceof Date ||
        Buffer.isBuffer(v)
      ) {
        throw new XmlRpcDecodeError('<fault> does not hold a struct');
      }
      const s = v as { [key: string]: XmlRpcValue };
      const code = s['faultCode'];
      const message = s['faultString'];
      if (typeof code !== 'number' || !Number.isInteger(code)) {
        throw new XmlRpcDecodeError('<fault> has no integer faultCode');
      }
      if (typeof message !== 'string') throw new XmlRpcDecodeError('<fault> has no string faultString');
      return { fault: { code, message } };
    }
    if (body.name !== 'params') throw new XmlRpcDecodeError(`<methodResponse> holds <${body.name}>`);
    return { value: decodeValue(only(only(body, 'param'), 'value'), 1) };
  } catch (err) {
    throw asDecodeError(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Shortest round-trip decimal, never in exponent notation (the spec has none), `.0` if whole. */
function formatDouble(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`XML-RPC has no form for the double ${v}`);
  if (Object.is(v, -0)) return '-0.0';
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return Number.isInteger(v) ? `${s}.0` : s;
  const sign = m[1] ?? '';
  const digits = (m[2] ?? '') + (m[3] ?? '');
  const point = 1 + Number(m[4]);
  // String() switches to exponents only below 1e-6 and from 1e21, where every digit is left of
  // the point or right of some zeros.
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  return `${sign}${digits.padEnd(point, '0')}.0`;
}

type IntTag = 'i4' | 'int';

function encodeValue(v: XmlRpcEncodable, intTag: IntTag, depth: number): string {
  if (depth > XML_RPC_MAX_DEPTH) {
    throw new RangeError(`XML-RPC value nested deeper than ${XML_RPC_MAX_DEPTH} (or cyclic)`);
  }
  if (typeof v === 'string') return `<value><string>${escapeString(v)}</string></value>`;
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) {
      return `<value><${intTag}>${v === 0 ? 0 : v}</${intTag}></value>`;
    }
    if (Number.isSafeInteger(v)) return `<value><i8>${v}</i8></value>`;
    return `<value><double>${formatDouble(v)}</double></value>`;
  }
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (v === null) return '<value><nil/></value>';
  if (typeof v !== 'object') throw new TypeError(`XML-RPC has no form for a ${typeof v}`);
  if (v instanceof XmlRpcDouble) return `<value><double>${formatDouble(v.value)}</double></value>`;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new RangeError('XML-RPC has no form for an invalid Date');
    const iso = v.toISOString();
    return `<value><dateTime.iso8601>${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 19)}</dateTime.iso8601></value>`;
  }
  if (v instanceof Uint8Array) {
    return `<value><base64>${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}</base64></value>`;
  }
  if (Array.isArray(v)) {
    let items = '';
    for (const item of v as readonly XmlRpcEncodable[]) items += encodeValue(item, intTag, depth + 1);
    return `<value><array><data>${items}</data></array></value>`;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`XML-RPC has no form for a ${v.constructor?.name ?? 'class instance'}`);
  }
  let members = '';
  for (const [key, item] of Object.entries(v as { readonly [key: string]: XmlRpcEncodable })) {
    if (item === undefined) throw new TypeError(`XML-RPC has no form for undefined (member ${show(key)})`);
    members += `<member><name>${escapeString(key)}</name>${encodeValue(item, intTag, depth + 1)}</member>`;
  }
  return `<value><struct>${members}</struct></value>`;
}

/** `& < >` as entities, CR as `&#13;` (so it survives the parser's line-end handling). */
function escapeString(s: string): string {
  // Native replaceAll: a pool document of 1,000 jobs is about 150,000 characters to escape.
  return toXmlChars(s)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('\r', '&#13;');
}

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** Server side: a successful response (ints as `<i4>`, as xmlrpc-c writes them). */
export function encodeMethodResponse(value: XmlRpcEncodable): string {
  return `${DECLARATION}<methodResponse><params><param>${encodeValue(value, 'i4', 1)}</param></params></methodResponse>\n`;
}

/** Server side: a fault response. */
export function encodeFault(code: number, message: string): string {
  if (!Number.isInteger(code) || code < INT32_MIN || code > INT32_MAX) {
    throw new RangeError(`fault code ${code} is not a 32-bit integer`);
  }
  const body = encodeValue({ faultCode: code, faultString: message }, 'i4', 1);
  return `${DECLARATION}<methodResponse><fault>${body}</fault></methodResponse>\n`;
}

/** Client side: a request (ints as `<int>`, as Python's and Go's clients write them). */
export function encodeMethodCall(methodName: string, params: readonly XmlRpcEncodable[]): string {
  if (!/^[A-Za-z0-9_.:/]+$/.test(methodName)) {
    throw new TypeError(`${show(methodName)} is not an XML-RPC method name (A-Z a-z 0-9 _ . : /)`);
  }
  let ps = '';
  for (const p of params) ps += `<param>${encodeValue(p, 'int', 1)}</param>`;
  return `${DECLARATION}<methodCall><methodName>${methodName}</methodName><params>${ps}</params></methodCall>\n`;
}
