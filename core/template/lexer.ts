/**
 * The tokens of OpenNebula's template language (SPEC.md 1.2), read on demand because, as in
 * OpenNebula's flex lexer, what a character means depends on whether a value is expected.
 *
 * Positions are 1-based; columns count code points, so a character outside the BMP is one
 * column. The text is expected with line ends already read as LF (see `parseTemplate`).
 *
 * Values follow OpenNebula: a quoted value `"..."` in which only `\"` is an escape, or an unquoted
 * run of characters other than blanks, newlines and `= # , [ ]` (where `\"` is unescaped too).
 * When both match at a `"`, the longer wins, so `"x"y` is the unquoted value `"x"y`.
 */
import type { Position } from './types.js';

/** A position with its offset in the text. */
export interface Mark extends Position {
  readonly offset: number;
}

export interface ValueToken {
  readonly kind: 'value';
  /** Where the token starts (the opening quote of a quoted value). */
  readonly at: Mark;
  /** Where the characters the value is made of start (after the opening quote). */
  readonly body: Mark;
  /** Those characters as written (without the quotes). */
  readonly raw: string;
  /** The value with `\"` read as `"`; not trimmed. */
  readonly value: string;
  readonly quoted: boolean;
}

interface LexError {
  readonly kind: 'error';
  readonly at: Position;
  readonly message: string;
}

const NAME_RUN = /[A-Za-z0-9_]+/y;
const UNQUOTED_RUN = /[^=# \t\n\f\v,[\]]+/y;
const BLANKS = /[ \t\f\v]*/y;
const AFTER_QUOTED = /[ \t\f\v\n#,\]]/;

export const isBlank = (ch: string | undefined): boolean =>
  ch === ' ' || ch === '\t' || ch === '\f' || ch === '\v';

export const isNameChar = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z0-9_]/.test(ch);

/** How a character is named in messages. */
export function describe(ch: string | undefined): string {
  if (ch === undefined) return 'end of file';
  if (ch === '\n') return 'end of line';
  if (ch === '\t') return 'a tab';
  return `'${ch}'`;
}

/** The position reached from `from` after the text up to `to`. */
export function walk(text: string, from: Mark, to: number): Mark {
  let { line, column } = from;
  for (let i = from.offset; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      column = 1;
    } else if (!(c >= 0xdc00 && c <= 0xdfff && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800)) {
      column++;
    }
  }
  return { line, column, offset: to };
}

function runAt(re: RegExp, text: string, offset: number): number {
  re.lastIndex = offset;
  return re.exec(text)?.[0].length ?? 0;
}

export class Lexer {
  readonly #text: string;
  #at: Mark = { line: 1, column: 1, offset: 0 };

  constructor(text: string) {
    this.#text = text;
  }

  mark(): Mark {
    return this.#at;
  }

  atEnd(): boolean {
    return this.#at.offset >= this.#text.length;
  }

  /** The character (code point) `ahead` code units on. */
  peek(ahead = 0): string | undefined {
    const cp = this.#text.codePointAt(this.#at.offset + ahead);
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }

  /** The position of an offset at or after `from`, without moving. */
  positionOf(from: Mark, offset: number): Mark {
    return walk(this.#text, from, offset);
  }

  /** Text from offset to the end of its line. */
  restOfLine(offset: number): string {
    const end = this.#text.indexOf('\n', offset);
    return this.#text.slice(offset, end === -1 ? undefined : end);
  }

  advance(n = 1): void {
    this.#at = walk(this.#text, this.#at, Math.min(this.#at.offset + n, this.#text.length));
  }

  skipBlanks(): void {
    this.advance(runAt(BLANKS, this.#text, this.#at.offset));
  }

  /** Blanks, newlines and comments (`#` to the end of the line). */
  skipTrivia(): void {
    for (;;) {
      this.skipBlanks();
      const ch = this.peek();
      if (ch === '\n') this.advance();
      else if (ch === '#') this.skipLine();
      else return;
    }
  }

  /** To the end of the current line (the newline itself is left). */
  skipLine(): void {
    const end = this.#text.indexOf('\n', this.#at.offset);
    this.advance((end === -1 ? this.#text.length : end) - this.#at.offset);
  }

  /**
   * Past the `]` that closes the current vector (outside quoted values, counting any `[` met on
   * the way, as in a wrongly nested vector), or to the end: recovery inside a vector.
   */
  skipPastBracket(): void {
    const t = this.#text;
    let i = this.#at.offset;
    for (let depth = 0; i < t.length; i++) {
      const ch = t[i];
      if (ch === '[') depth++;
      else if (ch === ']' && depth-- === 0) break;
      else if (ch === '"') {
        const close = this.#closingQuote(i).close;
        if (close !== -1) i = close;
      }
    }
    this.advance(Math.min(i + 1, t.length) - this.#at.offset);
  }

  /** A run of name characters (possibly empty). */
  name(): string {
    const start = this.#at.offset;
    this.advance(runAt(NAME_RUN, this.#text, start));
    return this.#text.slice(start, this.#at.offset);
  }

  /** The text from offset up to a blank, newline or one of `= # [`: a word as the user sees it. */
  wordAt(offset: number): string {
    return /^[^ \t\f\v\n=#[]*/.exec(this.#text.slice(offset, offset + 200))?.[0] ?? '';
  }

  /**
   * The first `"` after the opening one at `open` not preceded by `\`, and the first `\"` that
   * looks meant to close the value: one that ends a line, or else one followed by a blank.
   */
  #closingQuote(open: number): { close: number; endsLine: number; endsWord: number } {
    const t = this.#text;
    let endsLine = -1;
    let endsWord = -1;
    for (let j = open + 1; ; ) {
      const k = t.indexOf('"', j);
      if (k === -1 || t[k - 1] !== '\\') return { close: k, endsLine, endsWord };
      if (endsLine === -1 && /^[ \t\f\v]*(\n|$)/.test(t.slice(k + 1, k + 80))) endsLine = k - 1;
      if (endsWord === -1 && isBlank(t[k + 1])) endsWord = k - 1;
      j = k + 1;
    }
  }

  /** A value: the caller has checked that the next character can start one. */
  value(): ValueToken | LexError {
    const t = this.#text;
    const at = this.#at;
    const unquotedLen = runAt(UNQUOTED_RUN, t, at.offset);
    if (t[at.offset] !== '"') return this.#take(at, unquotedLen, false);
    const { close, endsLine, endsWord } = this.#closingQuote(at.offset);
    const backslash = (offset: number): LexError => ({
      kind: 'error',
      at: this.positionOf(at, offset),
      message: `a quoted value cannot end with a backslash: \\" is an escaped quote, so the value does not end here`,
    });
    if (close === -1) {
      if (endsLine !== -1) return backslash(endsLine);
      return {
        kind: 'error',
        at,
        message: `unterminated quote: the '"' opened here is never closed; add the closing '"'`,
      };
    }
    const quotedLen = close + 1 - at.offset;
    if (unquotedLen > quotedLen) return this.#take(at, unquotedLen, false);
    const after = t[close + 1];
    if (after !== undefined && !AFTER_QUOTED.test(after)) {
      if (endsLine !== -1) return backslash(endsLine);
      const end = this.positionOf(at, close);
      if (end.line > at.line) {
        return {
          kind: 'error',
          at,
          message:
            `unterminated quote: the '"' opened here is not closed on this line, and the next '"' ` +
            `(line ${end.line}, col ${end.column}) is followed by ${describe(after)}; add the closing '"'`,
        };
      }
      if (endsWord !== -1) return backslash(endsWord);
      return {
        kind: 'error',
        at: this.positionOf(end, close + 1),
        message: `expected a blank or the end of the line after the closing '"', found ${describe(after)}`,
      };
    }
    return this.#take(at, quotedLen, true);
  }

  #take(at: Mark, length: number, quoted: boolean): ValueToken {
    const body = quoted ? this.positionOf(at, at.offset + 1) : at;
    const raw = this.#text.slice(body.offset, at.offset + length - (quoted ? 1 : 0));
    this.advance(length);
    return { kind: 'value', at, body, raw, value: raw.replaceAll('\\"', '"'), quoted };
  }
}
