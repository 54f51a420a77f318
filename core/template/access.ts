/**
 * Reading and combining attribute lists the way OpenNebula's `Template` does (SPEC.md 1.3, 2.3).
 * Pure: nothing is changed in place. They take parsed attributes (with positions) as well as
 * stored ones (without), and give back the same objects.
 */
import type { PrintableAttribute } from './serialize.js';

type SingleOf<T extends PrintableAttribute> = Extract<T, { readonly kind: 'single' }>;

/**
 * The first single attribute of that name, as a typed `Template::get` reads it: a vector of the
 * same name is passed over, and later repeats are ignored.
 */
export function firstSingle<T extends PrintableAttribute>(
  attrs: readonly T[],
  name: string,
): SingleOf<T> | undefined {
  return attrs.find((a): a is SingleOf<T> => a.kind === 'single' && a.name === name);
}

/** Every attribute of that name, single or vector, in order. */
export function allNamed<T extends PrintableAttribute>(attrs: readonly T[], name: string): T[] {
  return attrs.filter((a) => a.name === name);
}

/** The attributes whose name is not one of names. */
export function withoutNamed<T extends PrintableAttribute>(
  attrs: readonly T[],
  names: readonly string[],
): T[] {
  const drop = new Set(names);
  return attrs.filter((a) => !drop.has(a.name));
}

/**
 * `Template::merge`, the append mode of `update` (type 1): every name that appears in update
 * removes all attributes of that name from base, then update's attributes are added after the
 * rest, except empty vectors. So `KEY = [ ]` in an update removes KEY, as in OpenNebula.
 * Repeats inside update are all kept; a replace-mode template then applies `lastWins`.
 */
export function replaceMerge<T extends PrintableAttribute, U extends PrintableAttribute>(
  base: readonly T[],
  update: readonly U[],
): (T | U)[] {
  const replaced = new Set(update.map((a) => a.name));
  const added = update.filter((a) => a.kind === 'single' || a.values.size > 0);
  return [...base.filter((a) => !replaced.has(a.name)), ...added];
}

/**
 * A replace-mode template (`Template(true)`, used for updates): setting a name first deletes every
 * attribute of that name, so of repeated names only the last stays, in its place.
 */
export function lastWins<T extends PrintableAttribute>(attrs: readonly T[]): T[] {
  const last = new Map<string, number>();
  attrs.forEach((a, i) => {
    last.set(a.name, i);
  });
  return attrs.filter((a, i) => last.get(a.name) === i);
}
