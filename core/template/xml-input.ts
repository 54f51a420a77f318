/** The XML form of a template (input starting with '<'): any root element; SPEC.md 1.2, row 39. */
import { parseString } from 'xml2js';
import { TemplateError } from '../errors.js';
import { normaliseName } from './names.js';
import type { Attribute } from './types.js';

interface Node {
  readonly '#name': string;
  readonly _?: string;
  readonly $$?: readonly Node[];
}

export function parseXmlTemplate(xml: string, file?: string): { attributes: Attribute[]; warnings: [] } {
  let root: Node | undefined;
  let failure = '';
  if (/<!DOCTYPE/i.test(xml)) failure = 'a DOCTYPE is not allowed';
  else {
    parseString(
      xml,
      { explicitChildren: true, preserveChildrenOrder: true, trim: false },
      (err, doc: Record<string, Node> | null) => {
        if (err) failure = String(err.message).split('\n')[0] ?? 'parse error';
        else if (doc) root = Object.values(doc)[0];
      },
    );
  }
  if (!root)
    throw new TemplateError(
      [{ line: 1, column: 1, message: `XML template malformed: ${failure || 'empty document'}` }],
      file,
    );
  const attributes: Attribute[] = [];
  for (const node of root.$$ ?? []) {
    const name = normaliseName(node['#name']);
    const children = node.$$ ?? [];
    if (children.length === 0) {
      attributes.push({ kind: 'single', name, value: (node._ ?? '').trim(), line: 1, column: 1 });
      continue;
    }
    const values = new Map<string, string>();
    for (const c of children) {
      const key = c['#name'].toUpperCase();
      if (!values.has(key)) values.set(key, (c._ ?? '').trim());
    }
    attributes.push({ kind: 'vector', name, values, positions: new Map(), line: 1, column: 1 });
  }
  return { attributes, warnings: [] };
}
