/**
 * The tree-based reader of BackupJob documents that cli/format/backupjob-doc-pull.ts replaced:
 * core/xml/tree.ts's generic tree, then the elements read from it. Kept here only as the
 * reference the pull reader is held to (backupjob-doc-pull.test.ts): same objects, same errors.
 */
import type {
  BackupJobDoc,
  BackupJobLock,
  BackupJobPermissions,
  SchedAction,
  TemplateAttribute,
} from '../../../cli/format/backupjob-doc.js';
import { BackupJobXmlError } from '../../../cli/format/backupjob-doc-pull.js';
import { parseXmlTree, type XmlElement as XmlTreeElement } from '../../../core/xml/tree.js';

/** A parsed element (core/xml/tree.ts), read in place: no second tree is built. */
type Node = XmlTreeElement;

/** Child elements in document order. */
function elementsOf(n: Node): Node[] {
  const out: Node[] = [];
  for (const c of n.children) if (c.kind === 'element') out.push(c);
  return out;
}

/** Text is every text and CDATA child joined, as xml2js and Nokogiri read it. */
function textOf(n: Node): string {
  let text = '';
  let hasElements = false;
  for (const c of n.children) {
    if (c.kind === 'text' || c.kind === 'cdata') text += c.value;
    else if (c.kind === 'element') hasElements = true;
  }
  return hasElements && text.trim() === '' ? '' : text;
}

/** Our own XML reader (core/xml/tree.ts): xml2js took most of `list`'s time at 1,000 jobs. */
function parseXml(xml: string, what: string): Node {
  try {
    return parseXmlTree(xml);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new BackupJobXmlError(`${what}: the daemon's answer is not XML (${reason})`);
  }
}

function child(n: Node, name: string): Node | undefined {
  for (const c of n.children) if (c.kind === 'element' && c.name === name) return c;
  return undefined;
}

/** Reads the elements of one document, naming the document in every error. */
class Reader {
  constructor(private readonly where: string) {}

  fail(problem: string): never {
    throw new BackupJobXmlError(`${this.where}: ${problem}`);
  }

  text(n: Node, name: string, fallback?: string): string {
    const c = child(n, name);
    if (c) return textOf(c);
    if (fallback === undefined) this.fail(`<${n.name}> has no <${name}>`);
    return fallback;
  }

  int(n: Node, name: string, fallback?: number): number {
    const c = child(n, name);
    if (!c) {
      if (fallback === undefined) this.fail(`<${n.name}> has no <${name}>`);
      return fallback;
    }
    const text = textOf(c);
    const t = text.trim();
    if (!/^[-+]?\d+$/.test(t)) this.fail(`<${name}> is "${text}", not an integer`);
    return Number(t);
  }

  ids(n: Node, name: string): number[] {
    const set = child(n, name);
    return (set ? elementsOf(set) : [])
      .filter((c) => c.name === 'ID')
      .map((id) => {
        const t = textOf(id).trim();
        if (!/^\d+$/.test(t)) this.fail(`<${name}> holds the ID "${textOf(id)}", not an integer`);
        return Number(t);
      });
  }
}

function templateOf(node: Node | undefined): TemplateAttribute[] {
  return (node ? elementsOf(node) : [])
    .filter((c) => c.name !== 'SCHED_ACTION')
    .map((c) => {
      const subs = elementsOf(c);
      return subs.length === 0
        ? { kind: 'single', name: c.name, value: textOf(c) }
        : { kind: 'vector', name: c.name, values: new Map(subs.map((s) => [s.name, textOf(s)])) };
    });
}

function schedActionOf(r: Reader, n: Node): SchedAction {
  return {
    id: r.int(n, 'ID'),
    parentId: r.int(n, 'PARENT_ID', -1),
    type: r.text(n, 'TYPE', ''),
    action: r.text(n, 'ACTION', ''),
    args: r.text(n, 'ARGS', ''),
    time: r.int(n, 'TIME'),
    repeat: r.int(n, 'REPEAT', -1),
    days: r.text(n, 'DAYS', ''),
    endType: r.int(n, 'END_TYPE', -1),
    endValue: r.int(n, 'END_VALUE', -1),
    done: r.int(n, 'DONE', -1),
    message: r.text(n, 'MESSAGE', ''),
    warning: r.int(n, 'WARNING', 0),
    interval: r.text(n, 'INTERVAL', ''),
    cron: r.text(n, 'CRON', ''),
  };
}

function backupJobOf(n: Node, where: string): BackupJobDoc {
  if (n.name !== 'BACKUPJOB') throw new BackupJobXmlError(`${where}: expected <BACKUPJOB>, got <${n.name}>`);
  const idNode = child(n, 'ID');
  const idText = idNode ? textOf(idNode).trim() : undefined;
  const r = new Reader(idText ? `backup job ${idText}` : where);
  // Read in the document's element order, so the first broken element is the one reported.
  const id = r.int(n, 'ID');
  const uid = r.int(n, 'UID');
  const gid = r.int(n, 'GID');
  const uname = r.text(n, 'UNAME');
  const gname = r.text(n, 'GNAME');
  const name = r.text(n, 'NAME');
  const lockNode = child(n, 'LOCK');
  const lock: BackupJobLock | undefined = lockNode && {
    locked: r.int(lockNode, 'LOCKED'),
    owner: r.int(lockNode, 'OWNER', -1),
    time: r.int(lockNode, 'TIME', 0),
    reqId: r.int(lockNode, 'REQ_ID', -1),
  };
  const permsNode = child(n, 'PERMISSIONS') ?? r.fail('<BACKUPJOB> has no <PERMISSIONS>');
  const flag = (el: string) => r.int(permsNode, el) === 1;
  const permissions: BackupJobPermissions = {
    ownerU: flag('OWNER_U'),
    ownerM: flag('OWNER_M'),
    ownerA: flag('OWNER_A'),
    groupU: flag('GROUP_U'),
    groupM: flag('GROUP_M'),
    groupA: flag('GROUP_A'),
    otherU: flag('OTHER_U'),
    otherM: flag('OTHER_M'),
    otherA: flag('OTHER_A'),
  };
  const template = child(n, 'TEMPLATE');
  return {
    id,
    uid,
    gid,
    uname,
    gname,
    name,
    ...(lock ? { lock } : {}),
    permissions,
    priority: r.int(n, 'PRIORITY'),
    lastBackupTime: r.int(n, 'LAST_BACKUP_TIME'),
    lastBackupDuration: r.int(n, 'LAST_BACKUP_DURATION'),
    schedActionIds: r.ids(n, 'SCHED_ACTIONS'),
    updatedVms: r.ids(n, 'UPDATED_VMS'),
    outdatedVms: r.ids(n, 'OUTDATED_VMS'),
    backingUpVms: r.ids(n, 'BACKING_UP_VMS'),
    errorVms: r.ids(n, 'ERROR_VMS'),
    template: templateOf(template),
    schedActions: (template ? elementsOf(template) : [])
      .filter((c) => c.name === 'SCHED_ACTION')
      .map((c) => schedActionOf(r, c)),
  };
}

/** parseBackupJobXml through a generic tree (core/xml/tree.ts). */
export function parseBackupJobXmlTree(xml: string): BackupJobDoc {
  return backupJobOf(parseXml(xml, 'backup job'), 'backup job');
}

/** parseBackupJobPoolXml through a generic tree: see parseBackupJobXmlTree. */
export function parseBackupJobPoolXmlTree(xml: string): BackupJobDoc[] {
  const root = parseXml(xml, 'backup job pool');
  if (root.name !== 'BACKUPJOB_POOL')
    throw new BackupJobXmlError(`backup job pool: expected <BACKUPJOB_POOL>, got <${root.name}>`);
  return elementsOf(root).map((c, i) => backupJobOf(c, `backup job pool, entry ${i + 1}`));
}
