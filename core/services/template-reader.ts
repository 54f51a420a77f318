/**
 * Reads the attributes of an inventory template (host, datastore, VM) with the same rules as
 * backup jobs: a singleton given twice with different values, a vector where a value belongs,
 * and values outside their allowed set are all reported at once, with line and attribute.
 */
import { TemplateError, type TemplateProblem } from '../errors.js';
import type { PlainAttribute } from '../template/attributes.js';
import type { Attribute, Position, VectorAttribute } from '../template/types.js';

export class TemplateReader {
  readonly problems: TemplateProblem[] = [];
  readonly #singles = new Map<string, { value: string; at: Position }>();
  readonly #vectors = new Map<string, VectorAttribute[]>();
  readonly #others: PlainAttribute[] = [];

  constructor(attrs: readonly Attribute[], singletons: readonly string[], vectors: readonly string[]) {
    for (const a of attrs) {
      if (vectors.includes(a.name)) {
        if (a.kind === 'vector') this.#vectors.set(a.name, [...(this.#vectors.get(a.name) ?? []), a]);
        else this.fail(a, a.name, `${a.name} must be a vector: ${a.name} = [ KEY = "value", ... ]`);
        continue;
      }
      if (!singletons.includes(a.name)) {
        this.#others.push(
          a.kind === 'single'
            ? { kind: 'single', name: a.name, value: a.value }
            : { kind: 'vector', name: a.name, values: a.values },
        );
        continue;
      }
      if (a.kind === 'vector') {
        this.fail(a, a.name, `${a.name} takes a single value, not a vector [ ... ]`);
        continue;
      }
      const seen = this.#singles.get(a.name);
      if (seen && seen.value !== a.value) {
        this.fail(
          a,
          a.name,
          `${a.name} is given twice (lines ${seen.at.line} and ${a.line}) with different values; keep one`,
        );
      } else if (!seen)
        this.#singles.set(a.name, { value: a.value, at: a.valueAt ?? { line: a.line, column: a.column } });
    }
  }

  fail(at: Position, attribute: string, message: string): void {
    this.problems.push({ line: at.line, column: at.column, attribute, message });
  }

  /** The value of a singleton, or undefined. */
  get(name: string): string | undefined {
    return this.#singles.get(name)?.value;
  }

  at(name: string): Position {
    return this.#singles.get(name)?.at ?? { line: 1, column: 1 };
  }

  require(name: string, hint: string): string | undefined {
    const v = this.get(name);
    if (v === undefined || v === '') this.fail(this.at(name), name, `${name} is missing; ${hint}`);
    return v === '' ? undefined : v;
  }

  /** Upper-cased value checked against the allowed set; the default when absent. */
  oneOf<T extends string>(
    name: string,
    allowed: readonly T[],
    fallback: T,
    options?: { lower?: boolean },
  ): T {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const v = options?.lower ? raw.toLowerCase() : raw.toUpperCase();
    if ((allowed as readonly string[]).includes(v)) return v as T;
    this.fail(this.at(name), name, `${name}="${raw}" is not one of ${allowed.join(', ')}`);
    return fallback;
  }

  yesNo(name: string, fallback: 'YES' | 'NO'): 'YES' | 'NO' {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const v = raw.toUpperCase();
    if (v === 'YES' || v === 'TRUE') return 'YES';
    if (v === 'NO' || v === 'FALSE') return 'NO';
    this.fail(this.at(name), name, `${name}="${raw}" is not one of YES, NO`);
    return fallback;
  }

  integer(name: string, min: number, max: number, fallback: number): number {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    if (/^-?\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max) return Number(raw);
    this.fail(this.at(name), name, `${name}="${raw}" is not a whole number in ${min}-${max}`);
    return fallback;
  }

  vectors(name: string): readonly VectorAttribute[] {
    return this.#vectors.get(name) ?? [];
  }

  /** Attributes the schema does not know, kept verbatim. */
  others(): readonly PlainAttribute[] {
    return this.#others;
  }

  throwIfProblems(): void {
    if (this.problems.length > 0) throw new TemplateError(this.problems);
  }
}
