/**
 * The elements of pool documents, kept rendered and escaped for XML-RPC (UTF-8 bytes) while what
 * they are made of stays the same. A pool call still reads every row it lists, on the snapshot
 * its own read sees, and decides from it which objects the caller may see and what each element
 * is made of (its source, core/docs/pool.ts); only rendering and escaping are skipped when an
 * element's source holds the same data as the one it was rendered from. Nothing is invalidated:
 * a change committed by this daemon or by another one sharing the store changes the rows read,
 * hence the source, and the element is rendered again at the next call. Answers are the bytes the
 * whole document would escape to, since escaping works character by character.
 *
 * One entry per slot (kind and object ID), so a changing object replaces its own entry; entries
 * of objects gone are dropped least recently used first once the kept bytes pass `maxBytes`
 * (16 MiB by default: some 4,000 VMs of the bench's size, 3-4 KiB each with their sources).
 */
import { type PoolDocument, sameData } from '../docs/pool.js';
import { EscapedString } from './xmlrpc.js';
import { escapeStringToBytes } from './xmlrpc-value.js';

interface Entry {
  readonly source: unknown;
  readonly bytes: Buffer;
}

/**
 * Bytes an entry holds, about: its escaped element, and its source (the view's rows, names and
 * decoded template: measured at about as much again as the element's bytes), counted twice that.
 */
const sizeOf = (e: Entry): number => 3 * e.bytes.length;

/**
 * The element's bytes in a buffer of their own: a small Buffer is a slice of an 8 KiB pool that
 * other, short-lived buffers share, and keeping the slice would keep the whole pool.
 */
function ownCopy(bytes: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

export interface ElementCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
}

export class ElementCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxBytes: number;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(maxBytes = 16 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  /** The document as an XML-RPC string value, from kept elements where their sources hold the same data. */
  escaped(doc: PoolDocument): EscapedString {
    const pieces: Uint8Array[] = [escapeStringToBytes(`<${doc.root}>`)];
    for (const e of doc.elements) {
      const kept = this.#entries.get(e.slot);
      if (kept && sameData(kept.source, e.source)) {
        this.#hits++;
        // Most recently used last: the Map's order is the eviction order.
        this.#entries.delete(e.slot);
        this.#entries.set(e.slot, kept);
        pieces.push(kept.bytes);
        continue;
      }
      this.#misses++;
      const fresh: Entry = { source: e.source, bytes: ownCopy(escapeStringToBytes(e.xml())) };
      if (kept) {
        this.#entries.delete(e.slot);
        this.#bytes -= sizeOf(kept);
      }
      this.#entries.set(e.slot, fresh);
      this.#bytes += sizeOf(fresh);
      pieces.push(fresh.bytes);
    }
    pieces.push(escapeStringToBytes(`</${doc.root}>`));
    this.#evict();
    return new EscapedString(pieces);
  }

  get stats(): ElementCacheStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#entries.size, bytes: this.#bytes };
  }

  #evict(): void {
    for (const [slot, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) return;
      this.#entries.delete(slot);
      this.#bytes -= sizeOf(e);
    }
  }
}
