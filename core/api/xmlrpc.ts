/**
 * XML-RPC calls and responses for the daemon and the CLIs: the `<methodCall>` and
 * `<methodResponse>` framing and faults around the values of core/api/xmlrpc-value.ts, on the
 * document reader of core/api/xmlrpc-document.ts.
 *
 * Decoding never throws anything but XmlRpcDecodeError, whatever the input. Encoders throw
 * TypeError / RangeError for what XML-RPC has no form for (see xmlrpc-value.ts), a method name
 * outside A-Z a-z 0-9 _ . : / or a fault code that is not a 32-bit integer.
 */
import {
  elements,
  only,
  parseDocument,
  parseResponse,
  show,
  textOf,
  XmlRpcDecodeError,
} from './xmlrpc-document.js';
import {
  decodeValue,
  encodeValue,
  escapeStringToBytes,
  INT32_MAX,
  INT32_MIN,
  type XmlRpcEncodable,
  type XmlRpcValue,
} from './xmlrpc-value.js';

export interface XmlRpcFault {
  readonly code: number;
  readonly message: string;
}

export type XmlRpcResponse = { readonly fault: XmlRpcFault } | { readonly value: XmlRpcValue };

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

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** Server side: a successful response (ints as `<i4>`, as xmlrpc-c writes them). */
export function encodeMethodResponse(value: XmlRpcEncodable): string {
  return `${DECLARATION}<methodResponse><params><param>${encodeValue(value, 'i4', 1)}</param></params></methodResponse>\n`;
}

/** Strings from this length on are escaped as bytes (escapeStringToBytes) by the next function. */
const LONG_STRING = 2048;
const ARRAY_HEAD = Buffer.from(`${DECLARATION}<methodResponse><params><param><value><array><data>`);
const ARRAY_TAIL = Buffer.from('</data></array></value></param></params></methodResponse>\n');
const STRING_HEAD = Buffer.from('<value><string>');
const STRING_TAIL = Buffer.from('</string></value>');

/**
 * A `<string>` value whose text is already escaped for XML-RPC (escapeStringToBytes), in UTF-8
 * pieces: a pool document assembled from kept elements (core/api/element-cache.ts).
 */
export class EscapedString {
  constructor(readonly pieces: readonly Uint8Array[]) {}
}

/** A response array as the daemon answers: OpenNebula's `[ok, body, code]`. */
export type ResponseArray = readonly (XmlRpcEncodable | EscapedString)[];

/**
 * encodeMethodResponse's bytes (UTF-8), the form the daemon sends: a response array (OpenNebula's
 * `[ok, body, code]`) whose long strings, the XML documents, are escaped straight into bytes, and
 * whose EscapedStrings are copied as they are.
 */
export function encodeMethodResponseBytes(value: XmlRpcEncodable | ResponseArray): Buffer {
  const items: readonly unknown[] | undefined = Array.isArray(value) ? value : undefined;
  if (!items?.some((v) => v instanceof EscapedString || (typeof v === 'string' && v.length >= LONG_STRING))) {
    return Buffer.from(encodeMethodResponse(value as XmlRpcEncodable), 'utf8');
  }
  const parts: Uint8Array[] = [ARRAY_HEAD];
  for (const item of value as ResponseArray) {
    if (item instanceof EscapedString) {
      parts.push(STRING_HEAD);
      for (const piece of item.pieces) parts.push(piece);
      parts.push(STRING_TAIL);
    } else if (typeof item === 'string' && item.length >= LONG_STRING) {
      parts.push(STRING_HEAD, escapeStringToBytes(item), STRING_TAIL);
    } else parts.push(Buffer.from(encodeValue(item, 'i4', 2), 'utf8'));
  }
  parts.push(ARRAY_TAIL);
  return Buffer.concat(parts);
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
