/**
 * Pool documents as their elements, so the API can keep each element's rendered form while the
 * object stays the same (core/api/element-cache.ts). A pool document is `<ROOT>`, its elements in
 * order, `</ROOT>`: exactly what `el(ROOT, ...elements)` writes.
 *
 * An element's source is everything it is rendered from: its view, and whatever else the element
 * shows (a host's running backups). Rendering is a function of the source's data alone, so two
 * sources with the same data (sameData) render the same element, whichever daemon or store
 * changed the object in between. Elements never depend on who asks: permissions choose which
 * elements a pool lists, not what they hold.
 */

export interface PoolElement {
  /** Where a cache keeps this element: its kind and the object's ID. */
  readonly slot: string;
  /** What the element is rendered from: plain data (objects, arrays, Maps, primitives). */
  readonly source: unknown;
  xml(): string;
}

export interface PoolDocument {
  readonly root: string;
  readonly elements: readonly PoolElement[];
}

/**
 * True when a and b hold the same data: equal primitives (Object.is), or arrays, Maps and plain
 * objects whose entries (own enumerable keys for objects) hold the same data in the same order.
 * Any other object (a Date, a class instance, a function) is the same only as itself.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    const bs = b.entries();
    for (const [k, v] of a) {
      const [bk, bv] = bs.next().value as [unknown, unknown];
      if (!Object.is(k, bk) || !sameData(v, bv)) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(a);
  if ((proto !== Object.prototype && proto !== null) || Object.getPrototypeOf(b) !== proto) return false;
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  for (let i = 0; i < ak.length; i++) {
    const k = ak[i] as string;
    if (k !== bk[i]) return false;
    if (!sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
