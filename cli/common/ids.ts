/**
 * Object arguments as OpenNebula's CLI takes them: an ID, a name, or a list/range
 * (`1,8..15`, `web,db`). Names are looked up in the pool.
 */
import { CliError } from '../cli-error.js';

export interface NamedObject {
  readonly id: number;
  readonly name: string;
}

/** Splits `1,8..15,web` into IDs and names, expanding ranges. */
function expandList(arg: string): (number | string)[] {
  const out: (number | string)[] = [];
  for (const piece of arg.split(',')) {
    const p = piece.trim();
    if (p === '') continue;
    const range = /^(\d+)\.\.(\d+)$/.exec(p);
    if (range) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (to < from) throw new CliError(`range ${p} ends before it starts`);
      if (to - from > 100_000) throw new CliError(`range ${p} is too large`);
      for (let i = from; i <= to; i++) out.push(i);
    } else if (/^\d+$/.test(p)) out.push(Number(p));
    else out.push(p);
  }
  if (out.length === 0) throw new CliError(`"${arg}" names no object`);
  return out;
}

/** Resolves one name (or ID) against a pool listing. kind is e.g. BACKUPJOB. */
function resolveName(ref: number | string, pool: readonly NamedObject[], kind: string): number {
  if (typeof ref === 'number') return ref;
  const matches = pool.filter((o) => o.name === ref);
  if (matches.length === 0) throw new CliError(`${kind} named ${ref} not found.`);
  if (matches.length > 1) throw new CliError(`There are multiple ${kind}s with name ${ref}.`);
  return (matches[0] as NamedObject).id;
}

export async function resolveList(
  arg: string,
  kind: string,
  loadPool: () => Promise<readonly NamedObject[]>,
): Promise<number[]> {
  const refs = expandList(arg);
  if (refs.every((r) => typeof r === 'number')) return refs as number[];
  const pool = await loadPool();
  return refs.map((r) => resolveName(r, pool, kind));
}

export async function resolveOne(
  arg: string,
  kind: string,
  loadPool: () => Promise<readonly NamedObject[]>,
): Promise<number> {
  const t = arg.trim();
  if (/^\d+$/.test(t)) return Number(t);
  return resolveName(t, await loadPool(), kind);
}
