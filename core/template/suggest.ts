/**
 * "Did you mean": attribute names that are not known but are one or two edits (or a case) away
 * from a known one (`BACKUP_VM` for BACKUP_VMS). OpenNebula templates accept any user attribute,
 * so these are warnings: a near miss is almost always a typo that would otherwise pass silently.
 */
import type { Attribute } from './types.js';

/** Optimal string alignment distance (Levenshtein with transpositions), capped at limit + 1. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      let v = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

export interface NearMiss {
  readonly name: string;
  readonly suggestion: string;
  readonly line: number;
  readonly column: number;
}

/** Attributes whose name is not in `known` but is close to one of them. */
export function nearMisses(attributes: readonly Attribute[], known: readonly string[]): NearMiss[] {
  const exact = new Set(known);
  const out: NearMiss[] = [];
  for (const a of attributes) {
    if (exact.has(a.name)) continue;
    const upper = a.name.toUpperCase();
    let best: { name: string; d: number } | undefined;
    for (const k of known) {
      const d = upper === k ? 0 : distance(upper, k, 2);
      if (d <= 2 && (best === undefined || d < best.d)) best = { name: k, d };
    }
    // Short names are too close to everything: two edits of a 4-letter name is another word.
    if (best && (best.d <= 1 || best.name.length > 6))
      out.push({ name: a.name, suggestion: best.name, line: a.line, column: a.column });
  }
  return out;
}
