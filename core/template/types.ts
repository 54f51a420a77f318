/**
 * The attribute model of an OpenNebula template (SPEC.md section 1.3).
 * Names are stored upper-cased (and ONE_-prefixed where needed); values are trimmed strings.
 */
export interface Position {
  /** 1-based line of the attribute name in the source text. */
  readonly line: number;
  /** 1-based column of the attribute name in that line. */
  readonly column: number;
}

interface SingleAttribute extends Position {
  readonly kind: 'single';
  readonly name: string;
  readonly value: string;
  /** Where the value starts, for errors about the value itself. */
  readonly valueAt?: Position | undefined;
}

export interface VectorAttribute extends Position {
  readonly kind: 'vector';
  readonly name: string;
  /** Sub-keys upper-cased; the first occurrence of a repeated sub-key wins. Insertion order kept. */
  readonly values: ReadonlyMap<string, string>;
  /** Position of each sub-key, for error messages. */
  readonly positions: ReadonlyMap<string, Position>;
}

export type Attribute = SingleAttribute | VectorAttribute;

/** A non-fatal remark about the input, e.g. `A = #x` where '#' does not start a comment. */
export interface TemplateWarning extends Position {
  readonly attribute?: string | undefined;
  readonly message: string;
}

export interface ParsedTemplate {
  /** Every attribute in input order; repeated names are all kept (a multimap). */
  readonly attributes: readonly Attribute[];
  readonly warnings: readonly TemplateWarning[];
}
