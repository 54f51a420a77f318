/**
 * XML-RPC values (https://xmlrpc.com/spec.md): one `<value>` of the document tree to a value,
 * and a value to its `<value>` text. core/api/xmlrpc.ts frames them into calls and responses.
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
 * Decoding throws XmlRpcDecodeError (unknown types, bad numbers, dates or base64, characters XML
 * 1.0 forbids, values nested deeper than XML_RPC_MAX_DEPTH).
 */
import { toXmlChars } from '../xml/build.js';
import {
  checkChars,
  elements,
  only,
  type RawNode,
  show,
  textOf,
  XmlRpcDecodeError,
} from './xmlrpc-document.js';

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

/** How deep `<value>`s may nest (a top-level parameter is depth 1). */
export const XML_RPC_MAX_DEPTH = 64;

// ---------------------------------------------------------------------------------------------
// Decoding

export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;

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

export function decodeValue(v: RawNode, depth: number): XmlRpcValue {
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

export function encodeValue(v: XmlRpcEncodable, intTag: IntTag, depth: number): string {
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
export function escapeString(s: string): string {
  // Native replaceAll: a pool document of 1,000 jobs is about 150,000 characters to escape.
  return toXmlChars(s)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('\r', '&#13;');
}

const LT = 0x3c;
const GT = 0x3e;
const AMP = 0x26;
const CR = 0x0d;
const TAB = 0x09;
const LF = 0x0a;

/**
 * escapeString's text as UTF-8, escaped byte by byte: for a pool document (tens to hundreds of
 * kilobytes, a markup character every few bytes) two passes over bytes cost a fraction of four
 * string replacements and the UTF-8 encoding after them. Only ASCII bytes are replaced, and no
 * byte of a multi-byte UTF-8 sequence is ASCII, so the result is the same bytes. Characters XML
 * cannot carry are found in the same pass: a C0 control is one byte, U+FFFE and U+FFFF are
 * EF BF BE and EF BF BF; a lone surrogate is already U+FFFD in UTF-8, as toXmlChars makes it.
 * Text with any of them (never a document we build) goes through toXmlChars first.
 */
export function escapeStringToBytes(s: string): Buffer {
  const src = Buffer.from(s, 'utf8');
  const extra = escapedExtra(src);
  return extra === undefined ? escapeBytes(Buffer.from(toXmlChars(s), 'utf8')) : escapeBytes(src, extra);
}

/** Bytes escaping adds to src; undefined when src holds a character XML cannot carry. */
function escapedExtra(src: Buffer): number | undefined {
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number;
    if (b === LT || b === GT) extra += 3;
    else if (b === AMP || b === CR) extra += 4;
    else if (b < 0x20 && b !== TAB && b !== LF) return undefined;
    else if (b === 0xef && src[i + 1] === 0xbf && ((src[i + 2] as number) & 0xfe) === 0xbe) return undefined;
  }
  return extra;
}

function escapeBytes(src: Buffer, extra = escapedExtra(src) ?? 0): Buffer {
  if (extra === 0) return src;
  const out = Buffer.allocUnsafe(src.length + extra);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number;
    if (b === LT || b === GT) {
      out[o] = AMP;
      out[o + 1] = b === LT ? 0x6c : 0x67; // l, g
      out[o + 2] = 0x74; // t
      out[o + 3] = 0x3b; // ;
      o += 4;
    } else if (b === AMP) {
      out[o] = AMP;
      out[o + 1] = 0x61; // a
      out[o + 2] = 0x6d; // m
      out[o + 3] = 0x70; // p
      out[o + 4] = 0x3b;
      o += 5;
    } else if (b === CR) {
      out[o] = AMP;
      out[o + 1] = 0x23; // #
      out[o + 2] = 0x31; // 1
      out[o + 3] = 0x33; // 3
      out[o + 4] = 0x3b;
      o += 5;
    } else out[o++] = b;
  }
  return out;
}
