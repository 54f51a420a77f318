/**
 * The key-value filter of `one.vmpool.info` (its sixth argument), as oned builds it into SQL
 * (VirtualMachinePoolAPI::info): `KEY=VALUE` pieces joined by `&`, each true when the element at
 * the dotted path KEY of the VM document (`VM.NAME`, `VM.TEMPLATE.DISK.SOURCE`) contains VALUE,
 * LIKE '%VALUE%' (`%` and `_` are LIKE's wildcards); a piece without `=` searches the whole
 * document. Every piece must hold. oned answers this only on MySQL; onebackup on any store.
 */
import type { VmView } from '../services/vms.js';
import { parseXmlTree, type XmlElement } from '../xml/tree.js';
import { vmXml } from './vm.js';

function likeContains(value: string): RegExp {
  const body = [...value]
    .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(body, 's');
}

function textOf(e: XmlElement): string {
  return e.children
    .map((c) => (c.kind === 'element' ? textOf(c) : c.kind === 'comment' ? '' : c.value))
    .join('');
}

/** The elements at a dotted path from the root (every element of a repeated name). */
function at(root: XmlElement, path: readonly string[]): XmlElement[] {
  if (path[0] !== root.name) return [];
  let level = [root];
  for (const name of path.slice(1)) {
    level = level.flatMap((e) =>
      e.children.filter((c): c is XmlElement => c.kind === 'element' && c.name === name),
    );
  }
  return level;
}

/** A predicate for the VMs that match `query`; undefined when the query is empty. */
export function vmSearch(query: string): ((v: VmView) => boolean) | undefined {
  if (query === '') return undefined;
  const pieces = query.split('&').map((piece) => {
    const [key = '', value] = piece.split('=');
    return value === undefined
      ? { path: undefined, like: likeContains(key) }
      : { path: key.split('.'), like: likeContains(value) };
  });
  return (v) => {
    const xml = vmXml(v);
    const root = parseXmlTree(xml);
    return pieces.every(({ path, like }) =>
      path === undefined ? like.test(textOf(root)) : at(root, path).some((e) => like.test(textOf(e))),
    );
  };
}
