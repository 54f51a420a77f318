/** Tokens of the daemon's compact XML (elements, text, CDATA; no attributes), for -x and -j. */
type XmlToken =
  | { readonly kind: 'open'; readonly name: string }
  | { readonly kind: 'close'; readonly name: string }
  | { readonly kind: 'empty'; readonly name: string }
  | { readonly kind: 'text'; readonly raw: string }
  | { readonly kind: 'cdata'; readonly raw: string };

function tokenize(xml: string): XmlToken[] {
  const tokens: XmlToken[] = [];
  let i = 0;
  const body = xml.replace(/^\s*<\?xml[^?]*\?>\s*/, '');
  while (i < body.length) {
    if (body.startsWith('<![CDATA[', i)) {
      const end = body.indexOf(']]>', i + 9);
      if (end < 0) throw new Error('unterminated CDATA');
      tokens.push({ kind: 'cdata', raw: body.slice(i, end + 3) });
      i = end + 3;
    } else if (body[i] === '<') {
      const end = body.indexOf('>', i);
      if (end < 0) throw new Error('unterminated tag');
      const tag = body.slice(i + 1, end);
      if (tag.startsWith('/')) tokens.push({ kind: 'close', name: tag.slice(1).trim() });
      else if (tag.endsWith('/')) tokens.push({ kind: 'empty', name: tag.slice(0, -1).trim() });
      else tokens.push({ kind: 'open', name: tag.trim() });
      i = end + 1;
    } else {
      const end = body.indexOf('<', i);
      const stop = end < 0 ? body.length : end;
      tokens.push({ kind: 'text', raw: body.slice(i, stop) });
      i = stop;
    }
  }
  return tokens;
}

interface XmlTree {
  readonly name: string;
  /** Text and CDATA pieces, raw (escaped / wrapped) as in the source. */
  readonly content: readonly { readonly kind: 'text' | 'cdata'; readonly raw: string }[];
  readonly children: readonly XmlTree[];
}

function buildTree(xml: string): XmlTree {
  const tokens = tokenize(xml);
  const stack: { name: string; content: XmlTree['content'][number][]; children: XmlTree[] }[] = [];
  let root: XmlTree | undefined;
  for (const t of tokens) {
    if (t.kind === 'open') stack.push({ name: t.name, content: [], children: [] });
    else if (t.kind === 'empty' || t.kind === 'close') {
      const node: XmlTree =
        t.kind === 'empty' ? { name: t.name, content: [], children: [] } : (stack.pop() as XmlTree);
      const parent = stack.at(-1);
      if (parent) parent.children.push(node);
      else root = node;
    } else if (stack.length > 0) {
      if (t.kind === 'text' && t.raw.trim() === '') continue;
      stack.at(-1)?.content.push(t);
    }
  }
  if (!root) throw new Error('no root element');
  return root;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The text a node holds: CDATA unwrapped, entities decoded. */
export function textOf(node: XmlTree): string {
  return node.content
    .map((c) =>
      c.kind === 'cdata'
        ? c.raw.slice(9, -3)
        : c.raw.replace(/&(#\d+|#x[0-9a-fA-F]+|\w+);/g, (m, e: string) =>
            e.startsWith('#x')
              ? String.fromCodePoint(Number.parseInt(e.slice(2), 16))
              : e.startsWith('#')
                ? String.fromCodePoint(Number(e.slice(1)))
                : (ENTITIES[e] ?? m),
          ),
    )
    .join('');
}

/** Pretty print as Nokogiri's to_xml (libxml2 format=1): 2-space indent, `<X/>` when empty. */
export function prettyXml(xml: string): string {
  const lines: string[] = [];
  const walk = (n: XmlTree, depth: number) => {
    const pad = '  '.repeat(depth);
    if (n.children.length === 0) {
      const content = n.content.map((c) => c.raw).join('');
      lines.push(content === '' ? `${pad}<${n.name}/>` : `${pad}<${n.name}>${content}</${n.name}>`);
      return;
    }
    lines.push(`${pad}<${n.name}>`);
    for (const c of n.children) walk(c, depth + 1);
    lines.push(`${pad}</${n.name}>`);
  };
  walk(buildTree(xml), 0);
  return lines.join('\n');
}

type OneJson = string | { [key: string]: OneJson } | OneJson[];

/**
 * XML to OpenNebula's `-j` shape: every value a string, a lone child element an object,
 * repeated children an array, an empty element `{}`; names in forceArray always arrays.
 */
export function xmlToOneJson(xml: string, forceArray: readonly string[]): { [key: string]: OneJson } {
  const convert = (n: XmlTree): OneJson => {
    if (n.children.length === 0) {
      const text = textOf(n);
      return text === '' ? {} : text;
    }
    const out: { [key: string]: OneJson } = {};
    for (const c of n.children) {
      const value = convert(c);
      const existing = out[c.name];
      if (existing === undefined) out[c.name] = forceArray.includes(c.name) ? [value] : value;
      else if (Array.isArray(existing)) existing.push(value);
      else out[c.name] = [existing, value];
    }
    return out;
  };
  const tree = buildTree(xml);
  return { [tree.name]: convert(tree) };
}
