/**
 * A pull reader that builds BackupJobDoc objects straight from the document text, with no
 * generic tree in between: `list` of 1,000 jobs spent most of its reading time allocating (and
 * collecting) the tree's nodes.
 *
 * It reads only the documents it can read exactly as the tree-based reader in backupjob-doc.ts
 * does (same objects), and gives up on anything else by returning undefined: malformed XML,
 * comments, carriage returns, a missing or non-integer element, anything unusual. The caller then
 * runs the tree-based reader, which gives the answer or the exact error (with its line and
 * column). So this module decides nothing the tree-based reader would decide differently; it is
 * only faster on the documents the daemon actually writes.
 *
 * As the tree reader: an element's text is its text and CDATA children joined (blank when it also
 * has child elements and the text is only blanks), the first element of a name is the one read,
 * unknown elements are skipped (but must be well formed), nesting deeper than MAX_XML_DEPTH is
 * refused.
 */

import { PERMISSION_ELEMENTS } from '../../core/permissions.js';
import { isXmlChar, MAX_XML_DEPTH } from '../../core/xml/tree.js';
import type {
  BackupJobDoc,
  BackupJobLock,
  BackupJobPermissions,
  SchedAction,
  TemplateAttribute,
} from './backupjob-doc.js';

/** Thrown inside this module when the document is not one it reads; never escapes it. */
class NotForThisReader extends Error {}

function giveUp(): never {
  throw new NotForThisReader();
}

const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const BANG = 0x21;
const SLASH = 0x2f;
const LT = 0x3c;
const GT = 0x3e;
const QUESTION = 0x3f;

/** core/xml/tree.ts decodes references in text longer than this another way. */
const LONG_TEXT = 4096;
const INTEGER = /^[-+]?\d+$/;
const ID = /^\d+$/;
const REFERENCE = /&(?:#(\d{1,7})|#x([0-9A-Fa-f]{1,6})|(amp|lt|gt|quot|apos));/g;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === TAB;
}

/** core/xml/tree.ts's NAME_AT, first character: `[A-Za-z_:\u0080-\uFFFF]`. */
function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
}

/** NAME_AT, later characters: `[\w.:\u0080-\uFFFF-]`. */
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d;
}

/** Character data with its references replaced, as the tree reader decodes it. */
function decodeText(raw: string): string {
  let out = '';
  let last = 0;
  REFERENCE.lastIndex = 0;
  for (let m = REFERENCE.exec(raw); m; m = REFERENCE.exec(raw)) {
    if (raw.indexOf('&', last) < m.index) giveUp();
    let ch: string;
    if (m[3] !== undefined) ch = PREDEFINED[m[3]] as string;
    else {
      const cp = m[1] !== undefined ? Number(m[1]) : Number.parseInt(m[2] as string, 16);
      if (!isXmlChar(cp)) giveUp();
      ch = String.fromCodePoint(cp);
    }
    out += raw.slice(last, m.index) + ch;
    last = m.index + m[0].length;
  }
  if (raw.indexOf('&', last) !== -1) giveUp();
  return out + raw.slice(last);
}

/** A cursor over the document: elements are pulled one at a time by their parent's reader. */
class Pull {
  pos = 0;
  /** Elements open around the cursor (the tree reader's stack). */
  depth = 0;
  /** Whether the start tag `next` just read was `<X/>`. */
  empty = false;
  /** Text and CDATA gathered by `next` when asked to keep it. */
  text = '';

  constructor(readonly src: string) {}

  /** Whitespace and processing instructions before or after the root; anything else gives up. */
  misc(): void {
    const s = this.src;
    for (;;) {
      while (isSpace(s.charCodeAt(this.pos))) this.pos++;
      if (s.charCodeAt(this.pos) !== LT || s.charCodeAt(this.pos + 1) !== QUESTION) return;
      // As the tree reader: the end is searched from the `<` (so `<?>` is a whole instruction).
      const end = s.indexOf('?>', this.pos);
      if (end === -1) giveUp();
      this.pos = end + 2;
    }
  }

  /** The root's start tag; returns its name. */
  root(): string {
    const s = this.src;
    if (s.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.misc();
    if (s.charCodeAt(this.pos) !== LT) giveUp();
    this.pos++;
    return this.startTag();
  }

  /** After the root's end tag: only whitespace and processing instructions may follow. */
  end(): void {
    this.misc();
    if (this.pos !== this.src.length) giveUp();
  }

  /** Just past `<`: the element name, up to and including `>` or `/>`. */
  startTag(): string {
    const s = this.src;
    const start = this.pos;
    if (!isNameStart(s.charCodeAt(start))) giveUp();
    let p = start + 1;
    while (isNameChar(s.charCodeAt(p))) p++;
    const name = s.slice(start, p);
    while (isSpace(s.charCodeAt(p))) p++;
    const c = s.charCodeAt(p);
    if (c === GT) {
      if (this.depth >= MAX_XML_DEPTH) giveUp();
      this.depth++;
      this.empty = false;
      this.pos = p + 1;
    } else if (c === SLASH && s.charCodeAt(p + 1) === GT) {
      this.empty = true;
      this.pos = p + 2;
    } else giveUp();
    return name;
  }

  /**
   * Inside `parent` (whose start tag was `<parent>`): the name of its next child element, its
   * start tag read (`empty` set), or undefined once `</parent>` is read. Text and CDATA on the way
   * are added to `text` when `keep`, and checked either way.
   */
  next(parent: string, keep: boolean): string | undefined {
    const s = this.src;
    for (;;) {
      const lt = s.indexOf('<', this.pos);
      if (lt === -1) giveUp();
      if (lt > this.pos) {
        const raw = s.slice(this.pos, lt);
        let text = raw;
        if (raw.indexOf('&') !== -1) {
          // Long text the tree reader decodes through UTF-8 bytes (which would replace a lone
          // surrogate): left to it.
          if (raw.length > LONG_TEXT) giveUp();
          text = decodeText(raw);
        }
        if (keep) this.text += text;
      }
      const c = s.charCodeAt(lt + 1);
      if (c === SLASH) {
        this.endTag(lt, parent);
        return undefined;
      }
      if (c === BANG) {
        if (!s.startsWith('<![CDATA[', lt)) giveUp();
        const end = s.indexOf(']]>', lt + 9);
        if (end === -1) giveUp();
        if (keep) this.text += s.slice(lt + 9, end);
        this.pos = end + 3;
        continue;
      }
      this.pos = lt + 1;
      return this.startTag();
    }
  }

  /** `</name>` at `lt`: reads past it, closing the element. */
  endTag(lt: number, name: string): void {
    const s = this.src;
    if (!s.startsWith(name, lt + 2)) giveUp();
    let p = lt + 2 + name.length;
    if (isNameChar(s.charCodeAt(p))) giveUp();
    while (isSpace(s.charCodeAt(p))) p++;
    if (s.charCodeAt(p) !== GT) giveUp();
    this.pos = p + 1;
    this.depth--;
  }

  /** Reads past the element `next` just started, checking it. */
  skip(name: string): void {
    if (this.empty) return;
    for (let c = this.next(name, false); c !== undefined; c = this.next(name, false)) this.skip(c);
  }

  /** The text of the element `next` just started (the tree reader's textOf). */
  textOf(name: string): string {
    if (this.empty) return '';
    // The daemon's leaves: plain text or one CDATA section, then the end tag.
    const s = this.src;
    const lt = s.indexOf('<', this.pos);
    if (lt !== -1 && s.charCodeAt(lt + 1) === SLASH) {
      const raw = s.slice(this.pos, lt);
      if (raw.indexOf('&') === -1) {
        this.endTag(lt, name);
        return raw;
      }
    } else if (lt === this.pos && s.startsWith('<![CDATA[', lt)) {
      const end = s.indexOf(']]>', lt + 9);
      if (end !== -1 && s.charCodeAt(end + 3) === LT && s.charCodeAt(end + 4) === SLASH) {
        const value = s.slice(lt + 9, end);
        this.endTag(end + 3, name);
        return value;
      }
    }
    const outer = this.text;
    this.text = '';
    let hasElements = false;
    for (let c = this.next(name, true); c !== undefined; c = this.next(name, true)) {
      hasElements = true;
      this.skip(c);
    }
    const text = this.text;
    this.text = outer;
    return hasElements && text.trim() === '' ? '' : text;
  }

  /** An integer element, as the tree reader's Reader.int. */
  int(name: string): number {
    const t = this.textOf(name).trim();
    if (!INTEGER.test(t)) giveUp();
    return Number(t);
  }
}

/** The ID children of a VM set or SCHED_ACTIONS. */
function ids(p: Pull, name: string): number[] {
  const out: number[] = [];
  if (p.empty) return out;
  for (let c = p.next(name, false); c !== undefined; c = p.next(name, false)) {
    if (c !== 'ID') {
      p.skip(c);
      continue;
    }
    const t = p.textOf(c).trim();
    if (!ID.test(t)) giveUp();
    out.push(Number(t));
  }
  return out;
}

function lockOf(p: Pull): BackupJobLock {
  let locked: number | undefined;
  let owner: number | undefined;
  let time: number | undefined;
  let reqId: number | undefined;
  if (!p.empty) {
    for (let c = p.next('LOCK', false); c !== undefined; c = p.next('LOCK', false)) {
      if (c === 'LOCKED' && locked === undefined) locked = p.int(c);
      else if (c === 'OWNER' && owner === undefined) owner = p.int(c);
      else if (c === 'TIME' && time === undefined) time = p.int(c);
      else if (c === 'REQ_ID' && reqId === undefined) reqId = p.int(c);
      else p.skip(c);
    }
  }
  if (locked === undefined) giveUp();
  return { locked, owner: owner ?? -1, time: time ?? 0, reqId: reqId ?? -1 };
}

const PERMISSION_FLAGS = PERMISSION_ELEMENTS;

function permissionsOf(p: Pull): BackupJobPermissions {
  const flags: (boolean | undefined)[] = [];
  if (!p.empty) {
    for (let c = p.next('PERMISSIONS', false); c !== undefined; c = p.next('PERMISSIONS', false)) {
      const i = PERMISSION_FLAGS.indexOf(c as (typeof PERMISSION_FLAGS)[number]);
      if (i !== -1 && flags[i] === undefined) flags[i] = p.int(c) === 1;
      else p.skip(c);
    }
  }
  const flag = (i: number): boolean => flags[i] ?? giveUp();
  return {
    ownerU: flag(0),
    ownerM: flag(1),
    ownerA: flag(2),
    groupU: flag(3),
    groupM: flag(4),
    groupA: flag(5),
    otherU: flag(6),
    otherM: flag(7),
    otherA: flag(8),
  };
}

/** The elements of a SCHED_ACTION, the first of each name. */
interface SchedFields {
  [name: string]: string | undefined;
}

const SCHED_INTS = new Set(['ID', 'PARENT_ID', 'TIME', 'REPEAT', 'END_TYPE', 'END_VALUE', 'DONE', 'WARNING']);
const SCHED_TEXTS = new Set(['TYPE', 'ACTION', 'ARGS', 'DAYS', 'MESSAGE', 'INTERVAL', 'CRON']);

function schedActionOf(p: Pull): SchedAction {
  const text: SchedFields = {};
  const ints: { [name: string]: number | undefined } = {};
  if (!p.empty) {
    for (let c = p.next('SCHED_ACTION', false); c !== undefined; c = p.next('SCHED_ACTION', false)) {
      if (SCHED_INTS.has(c) && ints[c] === undefined) ints[c] = p.int(c);
      else if (SCHED_TEXTS.has(c) && text[c] === undefined) text[c] = p.textOf(c);
      else p.skip(c);
    }
  }
  const required = (name: string): number => ints[name] ?? giveUp();
  return {
    id: required('ID'),
    parentId: ints['PARENT_ID'] ?? -1,
    type: text['TYPE'] ?? '',
    action: text['ACTION'] ?? '',
    args: text['ARGS'] ?? '',
    time: required('TIME'),
    repeat: ints['REPEAT'] ?? -1,
    days: text['DAYS'] ?? '',
    endType: ints['END_TYPE'] ?? -1,
    endValue: ints['END_VALUE'] ?? -1,
    done: ints['DONE'] ?? -1,
    message: text['MESSAGE'] ?? '',
    warning: ints['WARNING'] ?? 0,
    interval: text['INTERVAL'] ?? '',
    cron: text['CRON'] ?? '',
  };
}

/** A TEMPLATE child other than SCHED_ACTION: a single value, or a vector when it has elements. */
function attributeOf(p: Pull, name: string): TemplateAttribute {
  if (p.empty) return { kind: 'single', name, value: '' };
  const outer = p.text;
  p.text = '';
  let values: Map<string, string> | undefined;
  for (let c = p.next(name, true); c !== undefined; c = p.next(name, true)) {
    const value = p.textOf(c);
    values ??= new Map();
    values.set(c, value);
  }
  const value = p.text;
  p.text = outer;
  return values ? { kind: 'vector', name, values } : { kind: 'single', name, value };
}

function templateOf(p: Pull, template: TemplateAttribute[], schedActions: SchedAction[]): void {
  if (p.empty) return;
  for (let c = p.next('TEMPLATE', false); c !== undefined; c = p.next('TEMPLATE', false)) {
    if (c === 'SCHED_ACTION') schedActions.push(schedActionOf(p));
    else template.push(attributeOf(p, c));
  }
}

/** A `<BACKUPJOB>` whose start tag was just read. Plain locals: this runs once per listed job. */
function backupJobOf(p: Pull): BackupJobDoc {
  let id: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let uname: string | undefined;
  let gname: string | undefined;
  let name: string | undefined;
  let lock: BackupJobLock | undefined;
  let permissions: BackupJobPermissions | undefined;
  let priority: number | undefined;
  let lastBackupTime: number | undefined;
  let lastBackupDuration: number | undefined;
  let schedActionIds: number[] | undefined;
  let updatedVms: number[] | undefined;
  let outdatedVms: number[] | undefined;
  let backingUpVms: number[] | undefined;
  let errorVms: number[] | undefined;
  let template: TemplateAttribute[] | undefined;
  const schedActions: SchedAction[] = [];
  if (!p.empty) {
    for (let c = p.next('BACKUPJOB', false); c !== undefined; c = p.next('BACKUPJOB', false)) {
      // The first element of a name is the one read; later ones are only checked.
      if (c === 'ID' && id === undefined) id = p.int(c);
      else if (c === 'UID' && uid === undefined) uid = p.int(c);
      else if (c === 'GID' && gid === undefined) gid = p.int(c);
      else if (c === 'UNAME' && uname === undefined) uname = p.textOf(c);
      else if (c === 'GNAME' && gname === undefined) gname = p.textOf(c);
      else if (c === 'NAME' && name === undefined) name = p.textOf(c);
      else if (c === 'LOCK' && lock === undefined) lock = lockOf(p);
      else if (c === 'PERMISSIONS' && permissions === undefined) permissions = permissionsOf(p);
      else if (c === 'PRIORITY' && priority === undefined) priority = p.int(c);
      else if (c === 'LAST_BACKUP_TIME' && lastBackupTime === undefined) lastBackupTime = p.int(c);
      else if (c === 'LAST_BACKUP_DURATION' && lastBackupDuration === undefined)
        lastBackupDuration = p.int(c);
      else if (c === 'SCHED_ACTIONS' && schedActionIds === undefined) schedActionIds = ids(p, c);
      else if (c === 'UPDATED_VMS' && updatedVms === undefined) updatedVms = ids(p, c);
      else if (c === 'OUTDATED_VMS' && outdatedVms === undefined) outdatedVms = ids(p, c);
      else if (c === 'BACKING_UP_VMS' && backingUpVms === undefined) backingUpVms = ids(p, c);
      else if (c === 'ERROR_VMS' && errorVms === undefined) errorVms = ids(p, c);
      else if (c === 'TEMPLATE' && template === undefined) {
        template = [];
        templateOf(p, template, schedActions);
      } else p.skip(c);
    }
  }
  if (
    id === undefined ||
    uid === undefined ||
    gid === undefined ||
    uname === undefined ||
    gname === undefined ||
    name === undefined ||
    permissions === undefined ||
    priority === undefined ||
    lastBackupTime === undefined ||
    lastBackupDuration === undefined
  )
    giveUp();
  // The tree reader's key order: `lock` (only when there is one) between name and permissions.
  return {
    id,
    uid,
    gid,
    uname,
    gname,
    name,
    ...(lock ? { lock } : {}),
    permissions,
    priority,
    lastBackupTime,
    lastBackupDuration,
    schedActionIds: schedActionIds ?? [],
    updatedVms: updatedVms ?? [],
    outdatedVms: outdatedVms ?? [],
    backingUpVms: backingUpVms ?? [],
    errorVms: errorVms ?? [],
    template: template ?? [],
    schedActions,
  };
}

/** Runs read, or undefined when the document is one to leave to the tree-based reader. */
function attempt<T>(xml: string, read: (p: Pull) => T): T | undefined {
  // The tree reader reads CR and CRLF as LF first; such documents are left to it.
  if (xml.indexOf('\r') !== -1) return undefined;
  try {
    return read(new Pull(xml));
  } catch (err) {
    if (err instanceof NotForThisReader) return undefined;
    throw err;
  }
}

/** `one.backupjob.info`'s `<BACKUPJOB>`, or undefined to leave it to the tree-based reader. */
export function pullBackupJob(xml: string): BackupJobDoc | undefined {
  return attempt(xml, (p) => {
    if (p.root() !== 'BACKUPJOB') giveUp();
    const job = backupJobOf(p);
    p.end();
    return job;
  });
}

/** `one.backupjobpool.info`'s `<BACKUPJOB_POOL>`, or undefined to leave it to the tree-based reader. */
export function pullBackupJobPool(xml: string): BackupJobDoc[] | undefined {
  return attempt(xml, (p) => {
    if (p.root() !== 'BACKUPJOB_POOL') giveUp();
    const jobs: BackupJobDoc[] = [];
    if (!p.empty) {
      for (let c = p.next('BACKUPJOB_POOL', false); c !== undefined; c = p.next('BACKUPJOB_POOL', false)) {
        if (c !== 'BACKUPJOB') giveUp();
        jobs.push(backupJobOf(p));
      }
    }
    p.end();
    return jobs;
  });
}
