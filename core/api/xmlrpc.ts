/**
 * XML-RPC codec (xml2js underneath, synchronous). Decoding never throws anything but
 * XmlRpcDecodeError: malformed XML, unknown types, bad numbers and nesting deeper than
 * MAX_DEPTH are all reported with a message. No DTD or external entity is ever expanded.
 * Integers encode as <i4> (or <i8> beyond 32 bits), as OpenNebula's xmlrpc-c does.
 */
import { parseString } from 'xml2js';
import { escapeXml } from '../xml/build.js';

/** A double that happens to be whole (plain JS integers encode as <i4>). */
export class XmlRpcDouble {
  constructor(readonly value: number) {}
}

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

export class XmlRpcDecodeError extends Error {
  override name = 'XmlRpcDecodeError';
}

const MAX_DEPTH = 64;

interface Node {
  readonly '#name': string;
  readonly _?: string;
  readonly $$?: readonly Node[];
}

function parseXml(xml: string): Node {
  if (/<!DOCTYPE/i.test(xml)) throw new XmlRpcDecodeError('a DOCTYPE is not allowed in XML-RPC');
  let root: Node | undefined;
  let failure: unknown;
  try {
    parseString(
      xml,
      { explicitChildren: true, preserveChildrenOrder: true, explicitRoot: true, trim: false, strict: true },
      (err, doc: Record<string, Node> | null) => {
        if (err) failure = err;
        else if (doc) root = Object.values(doc)[0];
      },
    );
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined || !root) {
    const msg = failure instanceof Error ? failure.message.split('\n')[0] : 'empty document';
    throw new XmlRpcDecodeError(`not well-formed XML: ${msg}`);
  }
  return root;
}

const kids = (n: Node): readonly Node[] => n.$$ ?? [];
const text = (n: Node): string => n._ ?? '';

function child(n: Node, name: string, where: string): Node {
  const c = kids(n).find((k) => k['#name'] === name);
  if (!c) throw new XmlRpcDecodeError(`<${where}> has no <${name}>`);
  return c;
}

function decodeInt(s: string, type: string): number {
  const t = s.trim();
  if (!/^[+-]?\d{1,19}$/.test(t))
    throw new XmlRpcDecodeError(`<${type}>${t.slice(0, 40)}</${type}> is not an integer`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new XmlRpcDecodeError(`<${type}>${t}</${type}> is out of range`);
  if (type !== 'i8' && type !== 'ex:i8' && (n > 2 ** 31 - 1 || n < -(2 ** 31))) {
    throw new XmlRpcDecodeError(`<${type}>${t}</${type}> does not fit in 32 bits`);
  }
  return n;
}

function decodeValue(v: Node, depth: number): XmlRpcValue {
  if (depth > MAX_DEPTH) throw new XmlRpcDecodeError(`values nested deeper than ${MAX_DEPTH}`);
  const typed = kids(v);
  if (typed.length === 0) return text(v);
  if (typed.length > 1) throw new XmlRpcDecodeError('<value> holds more than one element');
  const t = typed[0] as Node;
  const name = t['#name'];
  switch (name) {
    case 'string':
      return text(t);
    case 'i4':
    case 'int':
    case 'i8':
    case 'ex:i8':
      return decodeInt(text(t), name);
    case 'boolean': {
      const b = text(t).trim();
      if (b === '1' || b === 'true') return true;
      if (b === '0' || b === 'false') return false;
      throw new XmlRpcDecodeError(`<boolean>${b.slice(0, 40)}</boolean> is not 0 or 1`);
    }
    case 'double': {
      const d = text(t).trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(d))
        throw new XmlRpcDecodeError(`<double>${d.slice(0, 40)}</double> is not a number`);
      return new XmlRpcDouble(Number(d));
    }
    case 'base64':
      return Buffer.from(text(t).replace(/\s+/g, ''), 'base64');
    case 'dateTime.iso8601': {
      const s = text(t).trim();
      const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(s);
      if (!m)
        throw new XmlRpcDecodeError(`<dateTime.iso8601>${s.slice(0, 40)}</dateTime.iso8601> is not a date`);
      return new Date(
        Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])),
      );
    }
    case 'nil':
    case 'ex:nil':
      return null;
    case 'array': {
      const data = child(t, 'data', 'array');
      return kids(data)
        .filter((k) => k['#name'] === 'value')
        .map((k) => decodeValue(k, depth + 1));
    }
    case 'struct': {
      const out: { [key: string]: XmlRpcValue } = Object.create(null) as { [key: string]: XmlRpcValue };
      for (const m of kids(t)) {
        if (m['#name'] !== 'member') continue;
        out[text(child(m, 'name', 'member'))] = decodeValue(child(m, 'value', 'member'), depth + 1);
      }
      return out;
    }
    default:
      throw new XmlRpcDecodeError(`unknown XML-RPC type <${name}>`);
  }
}

/** Server side: a request body to the method name and its parameters. */
export function decodeMethodCall(xml: string): { methodName: string; params: XmlRpcValue[] } {
  const root = parseXml(xml);
  if (root['#name'] !== 'methodCall')
    throw new XmlRpcDecodeError(`expected <methodCall>, got <${root['#name']}>`);
  const methodName = text(child(root, 'methodName', 'methodCall')).trim();
  if (!/^[A-Za-z0-9_.:/]+$/.test(methodName))
    throw new XmlRpcDecodeError('the method name is empty or has invalid characters');
  const paramsNode = kids(root).find((k) => k['#name'] === 'params');
  const params = paramsNode
    ? kids(paramsNode)
        .filter((p) => p['#name'] === 'param')
        .map((p) => decodeValue(child(p, 'value', 'param'), 1))
    : [];
  return { methodName, params };
}

/** Client side: a response body to its value, or its fault. */
export function decodeMethodResponse(
  xml: string,
): { fault: { code: number; message: string } } | { value: XmlRpcValue } {
  const root = parseXml(xml);
  if (root['#name'] !== 'methodResponse')
    throw new XmlRpcDecodeError(`expected <methodResponse>, got <${root['#name']}>`);
  const fault = kids(root).find((k) => k['#name'] === 'fault');
  if (fault) {
    const v = decodeValue(child(fault, 'value', 'fault'), 1);
    const s = (v ?? {}) as { faultCode?: unknown; faultString?: unknown };
    return {
      fault: {
        code: typeof s.faultCode === 'number' ? s.faultCode : -1,
        message: String(s.faultString ?? ''),
      },
    };
  }
  const param = child(child(root, 'params', 'methodResponse'), 'param', 'params');
  return { value: decodeValue(child(param, 'value', 'param'), 1) };
}

function encodeValue(v: XmlRpcValue, depth = 0): string {
  if (depth > MAX_DEPTH) throw new Error(`XML-RPC value nested deeper than ${MAX_DEPTH}`);
  if (v === null) return '<value><nil/></value>';
  if (typeof v === 'string') return `<value><string>${escapeXml(v)}</string></value>`;
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (typeof v === 'number') {
    if (Number.isInteger(v))
      return Math.abs(v) < 2 ** 31 ? `<value><i4>${v}</i4></value>` : `<value><i8>${v}</i8></value>`;
    return `<value><double>${v}</double></value>`;
  }
  if (v instanceof XmlRpcDouble) return `<value><double>${v.value}</double></value>`;
  if (v instanceof Date)
    return `<value><dateTime.iso8601>${v.toISOString().slice(0, 19).replaceAll('-', '')}</dateTime.iso8601></value>`;
  if (Buffer.isBuffer(v)) return `<value><base64>${v.toString('base64')}</base64></value>`;
  if (Array.isArray(v))
    return `<value><array><data>${v.map((x) => encodeValue(x, depth + 1)).join('')}</data></array></value>`;
  const members = Object.entries(v)
    .map(([k, x]) => `<member><name>${escapeXml(k)}</name>${encodeValue(x, depth + 1)}</member>`)
    .join('');
  return `<value><struct>${members}</struct></value>`;
}

const DECL = '<?xml version="1.0"?>\n';

export function encodeMethodResponse(value: XmlRpcValue): string {
  return `${DECL}<methodResponse><params><param>${encodeValue(value)}</param></params></methodResponse>\n`;
}

export function encodeFault(code: number, message: string): string {
  return `${DECL}<methodResponse><fault>${encodeValue({ faultCode: code, faultString: message })}</fault></methodResponse>\n`;
}

export function encodeMethodCall(methodName: string, params: readonly XmlRpcValue[]): string {
  const ps = params.map((p) => `<param>${encodeValue(p)}</param>`).join('');
  return `${DECL}<methodCall><methodName>${escapeXml(methodName)}</methodName><params>${ps}</params></methodCall>\n`;
}
