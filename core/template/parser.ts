/**
 * OpenNebula's template language (SPEC.md section 1) with the Product behaviour of decision 1:
 * real 1-based line:column, the attribute name and the expected token in every error; CRLF read
 * as LF; an unterminated quote rejected. Several errors are reported at once: after an error the
 * parser skips to the next line and goes on.
 */
import { TemplateError, type TemplateProblem } from '../errors.js';
import { normaliseName } from './names.js';
import { Scanner } from './scanner.js';
import type { Attribute, Position, TemplateWarning, VectorAttribute } from './types.js';
import { parseXmlTemplate } from './xml-input.js';

class Abort extends Error {}

interface ValueToken extends Position {
  readonly value: string;
  readonly quoted: boolean;
}

class Parser {
  readonly attributes: Attribute[] = [];
  readonly warnings: TemplateWarning[] = [];
  readonly problems: TemplateProblem[] = [];
  private readonly s: Scanner;

  constructor(text: string) {
    this.s = new Scanner(text);
  }

  private fail(at: Position, attribute: string | undefined, message: string): never {
    this.problems.push({ line: at.line, column: at.column, attribute, message });
    throw new Abort();
  }

  run(): void {
    for (;;) {
      this.s.skipSpaceAndComments(true);
      if (this.s.atEnd()) return;
      const start = this.s.offset();
      try {
        this.attribute();
      } catch (err) {
        if (!(err instanceof Abort)) throw err;
        if (this.s.offset() === start) this.s.advance();
        if (this.s.atEnd()) return;
        this.s.skipLine();
      }
      if (this.problems.length >= 20) return;
    }
  }

  private name(context: string | undefined): { name: string; at: Position } {
    const at = this.s.position();
    const raw = this.s.readName();
    if (raw === '') {
      const ch = this.s.peek();
      const shown = ch === undefined ? 'end of file' : ch === '\n' ? 'end of line' : `'${ch}'`;
      this.fail(at, context, `expected an attribute name (letters, digits and _), found ${shown}`);
    }
    const next = this.s.peek();
    if (next !== undefined && /[-.]/.test(next)) {
      const word = this.s.wordFrom(this.s.offset() - raw.length).split('=')[0];
      this.fail(
        at,
        normaliseName(raw),
        `attribute names may hold only letters, digits and _; '${next}' is not allowed in "${word}"`,
      );
    }
    return { name: raw, at };
  }

  private attribute(): void {
    const { name: raw, at } = this.name(undefined);
    const name = normaliseName(raw);
    this.s.skipBlanks();
    if (this.s.peek() !== '=') {
      const prev = this.attributes.at(-1);
      const hint =
        prev && prev.kind === 'single' && prev.line === at.line
          ? ` (if "${prev.value} ${raw}" is one value of ${prev.name}, quote it: ${prev.name} = "${prev.value} ${raw}")`
          : '';
      this.fail(this.s.position(), name, `expected '=' after the attribute name ${name}${hint}`);
    }
    this.s.advance();
    this.s.skipBlanks();
    if (this.s.peek() === '#') {
      this.warnings.push({
        ...this.s.position(),
        attribute: name,
        message: `'#' right after '=' does not start a comment; it is dropped and the value read after it`,
      });
      this.s.advance();
      this.s.skipBlanks();
    }
    const ch = this.s.peek();
    if (ch === undefined) {
      this.fail(
        this.s.position(),
        name,
        `value missing after '=' at the end of the file; write ${name} = "" for an empty value`,
      );
    }
    if (ch === '\n') {
      this.attributes.push({ kind: 'single', name, value: '', line: at.line, column: at.column });
      return;
    }
    if (ch === '[') {
      this.s.advance();
      this.attributes.push(this.vector(name, at));
      this.afterValue(name, undefined);
      return;
    }
    const valueStart = this.s.offset();
    const v = this.value(name);
    this.attributes.push({
      kind: 'single',
      name,
      value: v.value,
      line: at.line,
      column: at.column,
      valueAt: { line: v.line, column: v.column },
    });
    this.afterValue(name, v.quoted ? undefined : valueStart);
  }

  /** After a top-level value: blanks, a comment, a newline, or the next attribute on the line. */
  private afterValue(name: string, unquotedStart: number | undefined): void {
    this.s.skipBlanks();
    const ch = this.s.peek();
    if (ch === undefined || ch === '\n' || ch === '#' || /[A-Za-z0-9_]/.test(ch)) return;
    if (ch === ',' && unquotedStart !== undefined) {
      const list = this.s.wordFrom(unquotedStart);
      this.fail(this.s.position(), name, `unquoted value ends at ','; quote lists: ${name} = "${list}"`);
    }
    this.fail(
      this.s.position(),
      name,
      `unexpected '${ch}' after the value of ${name}; expected a new line, a comment or another attribute`,
    );
  }

  private value(attribute: string): ValueToken {
    const at = this.s.position();
    const ch = this.s.peek();
    if (ch === '[')
      this.fail(at, attribute, `vectors cannot be nested: ${attribute} takes a value here, not [ ... ]`);
    if (ch === ']' || ch === ',' || ch === '=')
      this.fail(at, attribute, `expected a value for ${attribute}, found '${ch}'`);
    const token = this.s.readValue();
    if (token.kind === 'error') this.fail(token.at, attribute, token.message);
    if (token.value.includes(']]>'))
      this.fail(at, attribute, `a value cannot contain ']]>' (it would end the XML CDATA section)`);
    return { value: token.value.trim(), quoted: token.quoted, line: at.line, column: at.column };
  }

  private vector(name: string, at: Position): VectorAttribute {
    const values = new Map<string, string>();
    const positions = new Map<string, Position>();
    this.s.skipSpaceAndComments(true);
    if (this.s.peek() === ']') {
      this.s.advance();
      return { kind: 'vector', name, values, positions, line: at.line, column: at.column };
    }
    for (;;) {
      this.s.skipSpaceAndComments(true);
      const { name: rawSub, at: subAt } = this.name(name);
      const sub = rawSub.toUpperCase();
      this.s.skipBlanks();
      if (this.s.peek() !== '=')
        this.fail(this.s.position(), `${name}/${sub}`, `expected '=' after ${sub} inside ${name} = [ ... ]`);
      this.s.advance();
      this.s.skipBlanks();
      const next = this.s.peek();
      if (next === undefined || next === '\n' || next === ']' || next === ',') {
        this.fail(
          this.s.position(),
          `${name}/${sub}`,
          `${name}/${sub} has no value; write ${sub} = "" for an empty one`,
        );
      }
      const v = this.value(`${name}/${sub}`);
      if (values.has(sub)) {
        this.warnings.push({
          ...subAt,
          attribute: `${name}/${sub}`,
          message: `${sub} is given twice in ${name}; the first value is used`,
        });
      } else {
        values.set(sub, v.value);
        positions.set(sub, subAt);
      }
      this.s.skipSpaceAndComments(true);
      const sep = this.s.peek();
      if (sep === ',') {
        this.s.advance();
        this.s.skipSpaceAndComments(true);
        if (this.s.peek() === ']')
          this.fail(
            this.s.position(),
            name,
            `expected another KEY = value after ',' in ${name}; remove the trailing comma`,
          );
        continue;
      }
      if (sep === ']') {
        this.s.advance();
        return { kind: 'vector', name, values, positions, line: at.line, column: at.column };
      }
      const shown = sep === undefined ? 'end of file' : `'${sep}'`;
      this.fail(this.s.position(), name, `expected ',' or ']' after ${name}/${sub}, found ${shown}`);
    }
  }
}

/** Parses template text (or its XML form, when it starts with '<'). Throws TemplateError. */
export function parseTemplate(
  text: string,
  options: { file?: string } = {},
): {
  attributes: Attribute[];
  warnings: TemplateWarning[];
} {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trimStart().startsWith('<')) return parseXmlTemplate(body, options.file);
  const p = new Parser(body);
  p.run();
  if (p.problems.length > 0) throw new TemplateError(p.problems, options.file);
  return { attributes: p.attributes, warnings: p.warnings };
}
