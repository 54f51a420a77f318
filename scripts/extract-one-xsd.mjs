// node scripts/extract-one-xsd.mjs <OpenNebula checkout or bare git dir> [commit]
// Extracts from OpenNebula's XML schemas (share/doc/xsd/*.xsd, Apache-2.0) the content model of
// the documents onebackup answers: for each element, its children in order with minOccurs,
// maxOccurs and simple type; named types (shared.xsd) and element refs resolved in place. Writes
// test/support/opennebula-xsd.json, which test/support/xsd-check.ts checks our documents against.
// Run it again when following a newer OpenNebula release.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const xml2js = createRequire(import.meta.url)('xml2js');
const [source, commitArg] = process.argv.slice(2);
if (!source) {
  console.error('usage: node scripts/extract-one-xsd.mjs <OpenNebula checkout or bare git dir> [commit]');
  process.exit(255);
}
const bare = existsSync(join(source, 'HEAD')) && !existsSync(join(source, 'share'));
const commit = bare
  ? execFileSync('git', ['--git-dir', source, 'rev-parse', commitArg ?? 'HEAD'], { encoding: 'utf8' }).trim()
  : 'working tree';
const read = (file) =>
  bare
    ? execFileSync('git', ['--git-dir', source, 'show', `${commit}:share/doc/xsd/${file}`], {
        encoding: 'utf8',
      })
    : readFileSync(join(source, 'share', 'doc', 'xsd', file), 'utf8');

const DOCUMENTS = [
  'vm',
  'vm_pool',
  'vm_pool_extended',
  'host',
  'host_pool',
  'image',
  'image_pool',
  'datastore',
  'datastore_pool',
  'user',
  'user_pool',
  'group',
  'group_pool',
  'cluster',
  'cluster_pool',
  'backupjob',
  'backupjob_pool',
];

function parse(text) {
  let out;
  new xml2js.Parser({ explicitChildren: true, preserveChildrenOrder: true, async: false }).parseString(
    text,
    (err, r) => {
      if (err) throw err;
      out = r;
    },
  );
  return out['xs:schema'];
}

/** Named complex types and top-level elements of a file and the files it includes. */
function load(file, acc = { types: new Map(), elements: new Map(), seen: new Set() }) {
  if (acc.seen.has(file)) return acc;
  acc.seen.add(file);
  const schema = parse(read(file));
  for (const node of schema.$$ ?? []) {
    if (node['#name'] === 'xs:include') load(node.$.schemaLocation, acc);
    else if (node['#name'] === 'xs:complexType') acc.types.set(node.$.name, node);
    else if (node['#name'] === 'xs:element') acc.elements.set(node.$.name, node);
  }
  return acc;
}

const occurs = (node) => ({
  min: node.$?.minOccurs === undefined ? 1 : Number(node.$.minOccurs),
  max: node.$?.maxOccurs === undefined ? 1 : node.$.maxOccurs === 'unbounded' ? -1 : Number(node.$.maxOccurs),
});
const kids = (node) =>
  (node.$$ ?? []).filter((k) => !k['#name'].startsWith('#') && k['#name'] !== 'xs:annotation');

function group(node, ctx) {
  const kind = node['#name'].slice(3);
  return { g: kind, ...occurs(node), p: kids(node).map((k) => particle(k, ctx)) };
}

function particle(node, ctx) {
  switch (node['#name']) {
    case 'xs:sequence':
    case 'xs:choice':
    case 'xs:all':
      return group(node, ctx);
    case 'xs:any':
      return { any: true, ...occurs(node) };
    case 'xs:element':
      return element(node, ctx);
    default:
      throw new Error(`unhandled ${node['#name']}`);
  }
}

function complexContent(ct, ctx) {
  const inner = kids(ct)[0];
  return inner ? particle(inner, ctx) : { g: 'sequence', min: 1, max: 1, p: [] };
}

function element(node, ctx) {
  if (node.$.ref) {
    const target = ctx.elements.get(node.$.ref);
    if (!target) throw new Error(`no element ${node.$.ref}`);
    return { ...element(target, ctx), ...occurs(node) };
  }
  const out = { n: node.$.name, ...occurs(node) };
  const type = node.$.type;
  const inline = kids(node)[0];
  if (type?.startsWith('xs:')) out.t = type.slice(3);
  else if (type) {
    const named = ctx.types.get(type);
    if (!named) throw new Error(`no type ${type}`);
    out.c = complexContent(named, ctx);
  } else if (inline?.['#name'] === 'xs:complexType') out.c = complexContent(inline, ctx);
  else if (inline?.['#name'] === 'xs:simpleType') out.t = kids(inline)[0].$.base.slice(3);
  else out.t = 'anyType';
  return out;
}

const documents = {};
for (const name of DOCUMENTS) {
  const ctx = load(`${name}.xsd`);
  const root = [...ctx.elements.values()].at(-1);
  documents[name] = element(root, ctx);
}
const out = {
  _source:
    `OpenNebula share/doc/xsd/*.xsd (Apache License 2.0, (c) OpenNebula Project, OpenNebula Systems) ` +
    `at ${commit}, content models extracted by scripts/extract-one-xsd.mjs. ` +
    `n: element, min/max: occurrences (-1 unbounded), t: simple type, c: content, g: group kind, p: particles.`,
  documents,
};
const target = new URL('../test/support/opennebula-xsd.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(out)}\n`);
console.log(`wrote ${target.pathname} (${DOCUMENTS.length} documents from ${commit})`);
