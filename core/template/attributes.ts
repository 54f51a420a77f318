/**
 * How template attributes are kept in the store: a JSON array, in order, of
 * `{ "n": NAME, "v": value }` or `{ "n": NAME, "m": [[SUB, value], ...] }`.
 */
export type StoredAttribute =
  | { readonly n: string; readonly v: string }
  | { readonly n: string; readonly m: readonly (readonly [string, string])[] };

/** A template attribute without source positions. */
export type PlainAttribute =
  | { readonly kind: 'single'; readonly name: string; readonly value: string }
  | { readonly kind: 'vector'; readonly name: string; readonly values: ReadonlyMap<string, string> };

export function encodeAttributes(attrs: readonly PlainAttribute[]): string {
  const stored: StoredAttribute[] = attrs.map((a) =>
    a.kind === 'single' ? { n: a.name, v: a.value } : { n: a.name, m: [...a.values.entries()] },
  );
  return JSON.stringify(stored);
}

export function decodeAttributes(json: string): PlainAttribute[] {
  const stored = JSON.parse(json) as StoredAttribute[];
  return stored.map((s) =>
    'v' in s
      ? { kind: 'single', name: s.n, value: s.v }
      : { kind: 'vector', name: s.n, values: new Map(s.m.map(([k, v]) => [k, v] as const)) },
  );
}

export function single(name: string, value: string): PlainAttribute {
  return { kind: 'single', name, value };
}

export function getSingle(attrs: readonly PlainAttribute[], name: string): string | undefined {
  for (const a of attrs) if (a.kind === 'single' && a.name === name) return a.value;
  return undefined;
}

/** Sets NAME to value, replacing every attribute of that name; keeps the first position. */
export function setSingle(attrs: readonly PlainAttribute[], name: string, value: string): PlainAttribute[] {
  const out: PlainAttribute[] = [];
  let placed = false;
  for (const a of attrs) {
    if (a.name !== name) out.push(a);
    else if (!placed) {
      out.push(single(name, value));
      placed = true;
    }
  }
  if (!placed) out.push(single(name, value));
  return out;
}

export function withoutNames(attrs: readonly PlainAttribute[], names: readonly string[]): PlainAttribute[] {
  return attrs.filter((a) => !names.includes(a.name));
}

/** A single attribute of a stored template (its encoded form), when given and not empty. */
export function storedSingle(template: string, name: string): string | undefined {
  const a = decodeAttributes(template).find((x) => x.name === name);
  return a?.kind === 'single' && a.value !== '' ? a.value : undefined;
}
