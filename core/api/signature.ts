/**
 * Argument checking for XML-RPC methods: each method declares its parameters as a tuple of
 * ParamSpecs, and ArgsOf maps that tuple to the handler's parameter types, so a handler's
 * arguments are typed by its own parameter list.
 */
import type { XmlRpcValue } from './xmlrpc-value.js';

/**
 * XML-RPC fault codes of xmlrpc-c, which oned's XML-RPC layer answers before a method runs:
 * an unknown method (-506), and a missing argument or one of the wrong type (-501).
 */
export const FaultCode = Object.freeze({ NO_SUCH_METHOD: -506, TYPE: -501 });

/** A call the XML-RPC layer refuses with a fault instead of OpenNebula's [false, message, code]. */
export class XmlRpcFaultError extends Error {
  override readonly name = 'XmlRpcFaultError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The TypeScript type an XML-RPC parameter type checks to. */
export interface ArgTypes {
  int: number;
  string: string;
  bool: boolean;
  intArray: readonly number[];
}
export type ParamType = keyof ArgTypes;

export interface ParamSpec<T extends ParamType = ParamType> {
  readonly name: string;
  readonly type: T;
  /** Value used when an optional trailing argument is missing. */
  readonly default?: ArgTypes[T];
}

export type ArgValue = ArgTypes[ParamType];

/** The handler's argument types for a parameter tuple: `[ParamSpec<'int'>, ParamSpec<'string'>]` → `[number, string]`. */
export type ArgsOf<P extends readonly ParamSpec[]> = {
  -readonly [K in keyof P]: P[K] extends ParamSpec<infer T> ? ArgTypes[T] : never;
};

function spec<T extends ParamType>(type: T, name: string, dflt: ArgTypes[T] | undefined): ParamSpec<T> {
  return dflt === undefined ? { name, type } : { name, type, default: dflt };
}
export const intParam = (name: string, dflt?: number): ParamSpec<'int'> => spec('int', name, dflt);
export const stringParam = (name: string, dflt?: string): ParamSpec<'string'> => spec('string', name, dflt);
export const boolParam = (name: string, dflt?: boolean): ParamSpec<'bool'> => spec('bool', name, dflt);
export const intArrayParam = (name: string, dflt?: readonly number[]): ParamSpec<'intArray'> =>
  spec('intArray', name, dflt);

/** How xmlrpc-c's "Parameter that is supposed to be <type> is not" names each type. */
const XMLRPC_TYPE: Readonly<Record<ParamType, string>> = {
  int: 'integer',
  string: 'string',
  bool: 'boolean',
  intArray: 'array',
};

const TYPE_WORD: Readonly<Record<ParamType, string>> = {
  int: 'an int',
  string: 'a string',
  bool: 'a boolean',
  intArray: 'an array of ints',
};

function convert(value: XmlRpcValue, type: ParamType): ArgValue | undefined {
  switch (type) {
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
    case 'string':
      return typeof value === 'string' ? value : undefined;
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (value === 0 || value === 1) return value === 1;
      return undefined;
    case 'intArray':
      return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isInteger(v))
        ? (value as number[])
        : undefined;
  }
}

/** `(session, id[, decrypt])`: the argument list of a method, optional ones in brackets. */
export function signatureOf(method: string, specs: readonly ParamSpec[]): string {
  const required = specs.filter((s) => s.default === undefined).map((s) => `, ${s.name}`);
  const optional = specs.filter((s) => s.default !== undefined).map((s) => `[, ${s.name}]`);
  return `${method}(session${required.join('')}${optional.join('')})`;
}

/**
 * Checks the arguments after the session string against `specs`, as oned's XML-RPC layer
 * reads them: a missing required argument or one of the wrong type is a fault (-501) naming the
 * argument; arguments beyond the list are ignored, as oned ignores them. Each value returned has
 * the type its spec names (convert() checks it), which is what lets `ArgsOf<P>` describe the result.
 */
export function checkArgs<P extends readonly ParamSpec[]>(
  method: string,
  specs: P,
  args: readonly XmlRpcValue[],
): ArgsOf<P> {
  return specs.map((spec, i) => {
    const raw = args[i];
    if (raw === undefined) {
      if (spec.default !== undefined) return spec.default;
      throw new XmlRpcFaultError(
        FaultCode.TYPE,
        `Not enough parameters: argument ${i + 2} (${spec.name}, ${TYPE_WORD[spec.type]}) is missing; the call is ${signatureOf(method, specs)}`,
      );
    }
    const value = convert(raw, spec.type);
    if (value === undefined) {
      throw new XmlRpcFaultError(
        FaultCode.TYPE,
        `Parameter that is supposed to be ${XMLRPC_TYPE[spec.type]} is not: argument ${i + 2} (${spec.name}) of ${method} must be ${TYPE_WORD[spec.type]}, got ${describe(raw)}`,
      );
    }
    return value;
  }) as ArgsOf<P>;
}

function describe(v: XmlRpcValue): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'nil';
  if (typeof v === 'number') return Number.isInteger(v) ? `the int ${v}` : 'a double';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}
