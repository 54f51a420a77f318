/**
 * Argument checking for XML-RPC methods: each method declares its parameters as a tuple of
 * ParamSpecs, and ArgsOf maps that tuple to the handler's parameter types, so a handler's
 * arguments are typed by its own parameter list.
 */
import { ErrorCode, OneError } from '../errors.js';
import type { XmlRpcValue } from './xmlrpc-value.js';

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

/**
 * Checks the arguments after the session string against `specs`; throws RPC_API naming the
 * argument. Each value returned has the type its spec names (convert() checks it), which is
 * what lets `ArgsOf<P>` describe the result.
 */
export function checkArgs<P extends readonly ParamSpec[]>(
  method: string,
  specs: P,
  args: readonly XmlRpcValue[],
): ArgsOf<P> {
  if (args.length > specs.length) {
    throw new OneError(
      ErrorCode.RPC_API,
      `${method} takes ${specs.length + 1} arguments (session${specs.map((s) => `, ${s.name}`).join('')}); got ${args.length + 1}`,
    );
  }
  return specs.map((spec, i) => {
    const raw = args[i];
    if (raw === undefined) {
      if (spec.default !== undefined) return spec.default;
      throw new OneError(
        ErrorCode.RPC_API,
        `${method}: argument ${i + 2} (${spec.name}) is missing; it must be ${TYPE_WORD[spec.type]}`,
      );
    }
    const value = convert(raw, spec.type);
    if (value === undefined) {
      throw new OneError(
        ErrorCode.RPC_API,
        `${method}: argument ${i + 2} (${spec.name}) must be ${TYPE_WORD[spec.type]}, got ${describe(raw)}`,
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
