/**
 * The XML form of a template: input starting with `<` (SPEC.md 1.2, row 39). Any root element
 * works; each child with only text or CDATA is a single attribute, each child with elements a
 * vector. Names follow the text form's rules (upper-cased, ONE_ prefix) and values are trimmed.
 *
 * Where OpenNebula's `from_xml` drops or mangles things silently, we explain instead:
 * - a name the text form cannot write (`<A-B>`) is refused, so `show` and `update` round-trip;
 * - an element nested in a vector's sub-element, or text beside a vector's elements, is refused
 *   (OpenNebula ignores it);
 * - an empty element (`<A/>`) is an empty value (OpenNebula drops it);
 * - a sub-key given twice keeps the first value, with a warning, as in the text form
 *   (OpenNebula keeps the last).
 */
import { TemplateError, type TemplateProblem } from '../errors.js';
import { parseXmlTree, type XmlElement, XmlSyntaxError } from '../xml/tree.js';
import { type Mark, walk } from './lexer.js';
import { findValueProblem, NAME_PATTERN, normaliseName, trimValue } from './rules.js';
import type { Attribute, ParsedTemplate, Position, TemplateWarning } from './types.js';

/** Start tags in document order; CDATA, comments and declarations are matched only to be passed over. */
const MARKUP = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<![^>]*>|<(?=[^/])/g;

/**
 * The position of each element's name, keyed by element. The document is well-formed (it parsed),
 * so its start tags, in order, are its elements in document order.
 */
function elementPositions(xml: string, root: XmlElement): Map<XmlElement, Position> {
  const starts: Position[] = [];
  let at: Mark = { line: 1, column: 1, offset: 0 };
  for (const m of xml.matchAll(MARKUP)) {
    if (m[0] !== '<') continue;
    at = walk(xml, at, m.index + 1);
    starts.push({ line: at.line, column: at.column });
  }
  const where = new Map<XmlElement, Position>();
  const stack: XmlElement[] = [root];
  for (let i = 0; stack.length > 0; i++) {
    const el = stack.pop() as XmlElement;
    where.set(el, starts[i] ?? { line: 1, column: 1 });
    const children = el.children.filter((c): c is XmlElement => c.kind === 'element');
    for (let c = children.length - 1; c >= 0; c--) stack.push(children[c] as XmlElement);
  }
  return where;
}

function malformed(err: XmlSyntaxError, file: string | undefined): TemplateError {
  const m = / at line (\d+), column (\d+)$/.exec(err.message);
  return new TemplateError(
    [
      {
        line: m ? Number(m[1]) : 1,
        column: m ? Number(m[2]) : 1,
        message: `XML template malformed: ${m ? err.message.slice(0, m.index) : err.message}`,
      },
    ],
    file,
  );
}

export function parseXmlTemplate(xml: string, file?: string): ParsedTemplate {
  let root: XmlElement;
  try {
    root = parseXmlTree(xml);
  } catch (err) {
    if (err instanceof XmlSyntaxError) throw malformed(err, file);
    throw err;
  }
  const where = elementPositions(xml, root);
  const at = (el: XmlElement): Position => where.get(el) ?? { line: 1, column: 1 };
  const problems: TemplateProblem[] = [];
  const warnings: TemplateWarning[] = [];
  const attributes: Attribute[] = [];
  const fail = (el: XmlElement, attribute: string | undefined, message: string): void => {
    problems.push({ ...at(el), attribute, message });
  };

  /** The name as stored, or undefined (and a problem) when the text form could not write it. */
  const nameOf = (el: XmlElement, parent: string | undefined): string | undefined => {
    if (NAME_PATTERN.test(el.name)) return normaliseName(el.name);
    const path = parent ? `${parent}/${el.name.toUpperCase()}` : el.name.toUpperCase();
    fail(el, path, `attribute names may hold only letters, digits and _; <${el.name}> cannot be one`);
    return undefined;
  };

  /** The text of an element holding only text and CDATA, trimmed and checked. */
  const textOf = (el: XmlElement, path: string): string | undefined => {
    let text = '';
    for (const c of el.children) {
      if (c.kind === 'element') {
        fail(c, path, `vectors cannot be nested: <${el.name}> must hold a value, not <${c.name}>`);
        return undefined;
      }
      if (c.kind !== 'comment') text += c.value;
    }
    const value = trimValue(text);
    const problem = findValueProblem(value);
    if (problem) fail(el, path, problem.message);
    return problem ? undefined : value;
  };

  for (const child of root.children) {
    if (child.kind !== 'element') {
      if (child.kind !== 'comment' && trimValue(child.value) !== '')
        fail(
          root,
          undefined,
          `text directly inside <${root.name}> belongs to no attribute; put it in an element`,
        );
      continue;
    }
    const name = nameOf(child, undefined);
    if (name === undefined) continue;
    const { line, column } = at(child);
    if (!child.children.some((c) => c.kind === 'element')) {
      const value = textOf(child, name);
      if (value !== undefined) attributes.push({ kind: 'single', name, value, line, column });
      continue;
    }
    const values = new Map<string, string>();
    const positions = new Map<string, Position>();
    for (const c of child.children) {
      if (c.kind !== 'element') {
        if (c.kind !== 'comment' && trimValue(c.value) !== '')
          fail(child, name, `<${child.name}> mixes text with elements; a vector holds only elements`);
        continue;
      }
      const sub = nameOf(c, name);
      if (sub === undefined) continue;
      const value = textOf(c, `${name}/${sub}`);
      if (value === undefined) continue;
      const first = positions.get(sub);
      if (first) {
        warnings.push({
          ...at(c),
          attribute: `${name}/${sub}`,
          message: `${sub} is given twice in ${name}; the first value (line ${first.line}) is used`,
        });
      } else {
        values.set(sub, value);
        positions.set(sub, at(c));
      }
    }
    attributes.push({ kind: 'vector', name, values, positions, line, column });
  }
  if (problems.length > 0) throw new TemplateError(problems, file);
  return { attributes, warnings };
}
