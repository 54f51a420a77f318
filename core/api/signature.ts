/** Argument checking for XML-RPC methods: each method declares its parameter types. */
import { ErrorCode, OneError } from '../errors.js';
import type { XmlRpcValue } from './xmlrpc.js';

export type ParamType = 'int' | 'string' | 'bool' | 'intArray';
export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  /** Value used when an optional trailing argument is missing. */
  readonly default?: number | string | boolean | readonly number[];
}

export type ArgValue = number | string | boolean | readonly number[];

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

/** Checks the arguments after the session string; throws RPC_API naming the argument. */
export function checkArgs(
  method: string,
  specs: readonly ParamSpec[],
  args: readonly XmlRpcValue[],
): ArgValue[] {
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
  });
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
