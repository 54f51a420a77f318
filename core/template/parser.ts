/**
 * OpenNebula's template language (SPEC.md section 1) with the Product behaviour of decision 1:
 * every error names its real 1-based line and column, the attribute and what was expected;
 * CRLF and a lone CR read as LF; an unterminated quote is an error. Several errors are reported
 * at once: after an error the parser goes on at the next line, or after the `]` of a vector.
 */
import { TemplateError, type TemplateProblem } from '../errors.js';
import { describe, isBlank, isNameChar, Lexer, type Mark, type ValueToken } from './lexer.js';
import { findValueProblem, normaliseName, trimValue } from './rules.js';
import type { Attribute, ParsedTemplate, Position, TemplateWarning, VectorAttribute } from './types.js';
import { parseXmlTemplate } from './xml-input.js';

/** Past this many problems the rest is probably fallout of the first ones. */
const MAX_PROBLEMS = 20;

/** Abandons the attribute being read; `inVector` says where to go on. Never escapes `parseTemplate`. */
class Skip {
  constructor(readonly inVector: boolean) {}
}

/** The last unquoted or `= #` value, for hints when the next word on its line lacks its `=`. */
interface LastValue {
  readonly name: string;
  readonly line: number;
  readonly offset: number;
  readonly hashed: boolean;
}

const pos = (m: Position): Position => ({ line: m.line, column: m.column });

/** Characters a value cannot start with; a `#` only once the one right after `=` is dropped. */
const NO_VALUE = new Set([undefined, '\n', ',', ']', '=', '#']);

class Parser {
  readonly attributes: Attribute[] = [];
  readonly warnings: TemplateWarning[] = [];
  readonly problems: TemplateProblem[] = [];
  readonly #lx: Lexer;
  #last: LastValue | undefined;

  constructor(text: string) {
    this.#lx = new Lexer(text);
  }

  run(): void {
    const lx = this.#lx;
    for (;;) {
      lx.skipTrivia();
      if (lx.atEnd() || this.problems.length >= MAX_PROBLEMS) return;
      try {
        this.#attribute();
      } catch (err) {
        if (!(err instanceof Skip)) throw err;
        if (err.inVector) lx.skipPastBracket();
        else lx.skipLine();
      }
    }
  }

  #fail(at: Position, attribute: string | undefined, message: string, inVector = false): never {
    this.problems.push({ line: at.line, column: at.column, attribute, message });
    throw new Skip(inVector);
  }

  #attribute(): void {
    const lx = this.#lx;
    const previous = this.#last;
    this.#last = undefined;
    const at = lx.mark();
    const raw = lx.name();
    if (raw === '') {
      const ch = lx.peek();
      this.#fail(
        at,
        undefined,
        ch === '='
          ? "expected an attribute name before '='"
          : `expected an attribute name (letters, digits and _), found ${describe(ch)}`,
      );
    }
    const name = normaliseName(raw);
    this.#nameEnd(at, undefined, false);
    lx.skipBlanks();
    if (lx.peek() !== '=') this.#fail(lx.mark(), name, this.#expectedEqual(at, previous));
    lx.advance();
    lx.skipBlanks();
    const hashed = this.#hashAfterEqual(name, name, false);
    const ch = lx.peek();
    if (ch === '\n') {
      this.attributes.push({ kind: 'single', name, value: '', ...pos(at) });
    } else if (ch === '[') {
      this.attributes.push(this.#vector(name, at));
      this.#afterValue(name, undefined);
    } else {
      if (NO_VALUE.has(ch)) {
        const hint = ch === undefined || ch === '\n' ? `; write ${name} = "" for an empty value` : '';
        this.#fail(lx.mark(), name, `expected a value after '=', found ${describe(ch)}${hint}`);
      }
      const { token, value } = this.#value(name, false);
      this.attributes.push({ kind: 'single', name, value, ...pos(at), valueAt: pos(token.at) });
      this.#afterValue(name, token);
      if (!token.quoted || hashed)
        this.#last = { name, line: token.at.line, offset: token.at.offset, hashed };
    }
  }

  /** A name must end at a blank, `=`, `#`, a separator or the line end: `A-B` is refused at `-`. */
  #nameEnd(at: Mark, vector: string | undefined, inVector: boolean): void {
    const ch = this.#lx.peek();
    if (ch === undefined || isBlank(ch) || '\n=#,[]'.includes(ch)) return;
    const word = this.#lx.wordAt(at.offset).toUpperCase();
    this.#fail(
      this.#lx.mark(),
      vector ? `${vector}/${word}` : word,
      `attribute names may hold only letters, digits and _; ${describe(ch)} is not allowed`,
      inVector,
    );
  }

  /** The message for a name not followed by `=`, with a hint when it follows a value on its line. */
  #expectedEqual(at: Mark, last: LastValue | undefined): string {
    const ch = this.#lx.peek();
    let message = "expected '=' after the attribute name";
    if (ch !== undefined && ch !== '\n' && ch !== '#') message += `, found ${describe(ch)}`;
    if (last && last.line === at.line) {
      const words = this.#lx
        .restOfLine(last.offset)
        .replace(/\s#.*$/, '')
        .trim();
      message += last.hashed
        ? `; the '#' after ${last.name} = does not start a comment: write ${last.name} = "" # ... for an empty value, or quote the value`
        : `; if "${words}" is one value of ${last.name}, quote it: ${last.name} = "${words}"`;
    }
    return message;
  }

  /** Row 13: `A = #x` reads as `x` with a warning; `A = # text` is refused (it looks like a comment). */
  #hashAfterEqual(path: string, key: string, inVector: boolean): boolean {
    const lx = this.#lx;
    if (lx.peek() !== '#') return false;
    const at = lx.mark();
    const next = lx.peek(1);
    if (next === undefined || next === '\n' || isBlank(next)) {
      this.#fail(
        at,
        path,
        `expected a value after '=', found a comment ('#' does not start a comment here); ` +
          `write ${key} = "" for an empty value and put the comment after it`,
        inVector,
      );
    }
    this.warnings.push({
      ...pos(at),
      attribute: path,
      message: `'#' right after '=' does not start a comment: it is dropped and the value read after it; quote the value if the '#' belongs to it`,
    });
    lx.advance();
    return true;
  }

  /** Reads a value token, trims it and checks that it can be stored. */
  #value(path: string, inVector: boolean): { token: ValueToken; value: string } {
    const token = this.#lx.value();
    if (token.kind === 'error') this.#fail(token.at, path, token.message, inVector);
    const value = trimValue(token.value);
    const problem = findValueProblem(value);
    if (problem) {
      const lead = token.value.length - token.value.trimStart().length;
      const at = this.#lx.positionOf(
        token.body,
        token.body.offset + rawIndex(token.raw, lead + problem.index),
      );
      this.#fail(at, path, problem.message, inVector);
    }
    return { token, value };
  }

  /** After a top-level value: blanks, a comment, a newline, the end, or the next attribute. */
  #afterValue(name: string, token: ValueToken | undefined): void {
    const lx = this.#lx;
    lx.skipBlanks();
    const ch = lx.peek();
    if (ch === undefined || ch === '\n' || ch === '#' || isNameChar(ch)) return;
    if (token && !token.quoted && ',=[]'.includes(ch)) {
      const text = lx.restOfLine(token.at.offset).replace(/#.*$/, '').trim();
      const what = ch === ',' ? 'lists' : 'it';
      this.#fail(lx.mark(), name, `unquoted value ends at '${ch}'; quote ${what}: ${name} = "${text}"`);
    }
    const after = token ? `the value of ${name}` : `${name} = [ ... ]`;
    this.#fail(
      lx.mark(),
      name,
      `expected a new line, a comment or another attribute after ${after}, found ${describe(ch)}`,
    );
  }

  #vector(name: string, at: Mark): VectorAttribute {
    const lx = this.#lx;
    const open = lx.mark();
    lx.advance();
    const values = new Map<string, string>();
    const positions = new Map<string, Position>();
    const vector = (): VectorAttribute => ({ kind: 'vector', name, values, positions, ...pos(at) });
    lx.skipTrivia();
    if (lx.peek() === ']') {
      lx.advance();
      return vector();
    }
    const unclosed = `; close ${name} = [ opened on line ${open.line} with ']'`;
    for (;;) {
      lx.skipTrivia();
      const subAt = lx.mark();
      const raw = lx.name();
      if (raw === '') {
        const ch = lx.peek();
        const rest = ch === undefined ? unclosed : '';
        this.#fail(
          subAt,
          name,
          `expected a KEY = value pair inside ${name} = [ ... ], found ${describe(ch)}${rest}`,
          true,
        );
      }
      const sub = normaliseName(raw);
      const path = `${name}/${sub}`;
      this.#nameEnd(subAt, name, true);
      lx.skipBlanks();
      if (lx.peek() !== '=') {
        this.#fail(
          lx.mark(),
          path,
          `expected '=' after ${sub} inside ${name} = [ ... ], found ${describe(lx.peek())}`,
          true,
        );
      }
      lx.advance();
      lx.skipBlanks();
      this.#hashAfterEqual(path, sub, true);
      const ch = lx.peek();
      if (ch === '[')
        this.#fail(lx.mark(), path, "vectors cannot be nested: expected a value after '=', found '['", true);
      if (NO_VALUE.has(ch)) {
        const hint = ch === '=' || ch === '#' ? '' : `; write ${sub} = "" for an empty value`;
        this.#fail(lx.mark(), path, `expected a value after '=', found ${describe(ch)}${hint}`, true);
      }
      const { token, value } = this.#value(path, true);
      const first = positions.get(sub);
      if (first) {
        this.warnings.push({
          ...pos(subAt),
          attribute: path,
          message: `${sub} is given twice in ${name}; the first value (line ${first.line}) is used`,
        });
      } else {
        values.set(sub, value);
        positions.set(sub, pos(subAt));
      }
      lx.skipTrivia();
      const sep = lx.peek();
      if (sep === ']') {
        lx.advance();
        return vector();
      }
      if (sep === ',') {
        lx.advance();
        lx.skipTrivia();
        if (lx.peek() === ']')
          this.#fail(
            lx.mark(),
            name,
            "expected another KEY = value after ',', found ']'; remove the trailing comma",
            true,
          );
        continue;
      }
      let message = `expected ',' or ']' after the value of ${sub}, found ${describe(sep)}`;
      if (sep === undefined || (isNameChar(sep) && lx.mark().line > token.at.line)) message += unclosed;
      else if (!token.quoted && (sep === '=' || sep === '[')) message += `; quote values that hold '${sep}'`;
      this.#fail(lx.mark(), name, message, true);
    }
  }
}

/** The index in `raw` of the character at `index` of its unescaped form (`\"` is one character). */
function rawIndex(raw: string, index: number): number {
  let r = 0;
  for (let d = 0; d < index && r < raw.length; d++) r += raw.startsWith('\\"', r) ? 2 : 1;
  return r;
}

/**
 * Parses template text, or its XML form when it starts with `<` (after blanks). A UTF-8 BOM at
 * the start is skipped. Throws TemplateError listing every problem found.
 */
export function parseTemplate(
  text: string,
  options: { readonly file?: string | undefined } = {},
): ParsedTemplate {
  const body = (text.startsWith('\uFEFF') ? text.slice(1) : text).replace(/\r\n?/g, '\n');
  if (body.trimStart().startsWith('<')) return parseXmlTemplate(body, options.file);
  const p = new Parser(body);
  p.run();
  if (p.problems.length > 0) throw new TemplateError(p.problems, options.file);
  return { attributes: p.attributes, warnings: p.warnings };
}
