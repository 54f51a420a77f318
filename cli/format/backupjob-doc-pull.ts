/**
 * The reader of BackupJob documents: BackupJobDoc objects straight from the document text, with
 * no generic tree in between (`list` of 1,000 jobs spent most of its reading time allocating and
 * collecting a tree's nodes).
 *
 * It reads what core/xml/tree.ts reads (line ends as LF, a leading BOM dropped, comments and
 * processing instructions around the root, comments anywhere), with its rules: an element's text
 * is its text and CDATA children joined (blank when it also has child elements and the text is
 * only blanks), the first element of a name is the one read, unknown elements are skipped (but
 * must be well formed), nesting deeper than MAX_XML_DEPTH is refused.
 *
 * Errors: a document that is not well formed is reported with parseXmlTree's message (its line
 * and column), whatever else is wrong with it; otherwise the first problem of the first broken
 * job, the elements checked in a fixed order (ID, UID, GID, UNAME, GNAME, NAME, LOCK,
 * PERMISSIONS, PRIORITY, LAST_BACKUP_TIME, LAST_BACKUP_DURATION, the ID sets, the schedules),
 * not in document order. So values are kept as text while a job is read and checked at its end.
 */

import { PERMISSION_ELEMENTS, type Permissions } from '../../core/permissions.js';
import { parseXmlTree } from '../../core/xml/tree.js';
import { CliError } from '../cli-error.js';
import type { BackupJobDoc, BackupJobLock, SchedAction, TemplateAttribute } from './backupjob-doc.js';
import { NotWellFormed, Pull } from './xml-pull.js';

/** What a reader gives: the objects, or the sentence that says what is wrong with the document. */
type ReadResult<T> = { readonly ok: T } | { readonly error: string };

/** The document is XML but not the expected one; the message names the job and the element. */
class NotABackupJob extends Error {}

const INTEGER = /^[-+]?\d+$/;
const ID = /^\d+$/;

/** Checks a job's values, read as text, in the fixed order; names the job in its errors. */
class Check {
  constructor(private readonly where: string) {}

  fail(problem: string): never {
    throw new NotABackupJob(`${this.where}: ${problem}`);
  }

  /** An integer element of `parent`: its text, or the fallback when it is absent. */
  int(parent: string, name: string, text: string | undefined, fallback?: number): number {
    if (text === undefined) {
      if (fallback === undefined) this.fail(`<${parent}> has no <${name}>`);
      return fallback;
    }
    const t = text.trim();
    if (!INTEGER.test(t)) this.fail(`<${name}> is "${text}", not an integer`);
    return Number(t);
  }

  text(parent: string, name: string, text: string | undefined): string {
    return text ?? this.fail(`<${parent}> has no <${name}>`);
  }

  ids(name: string, set: IdSet | undefined): number[] {
    if (set === undefined) return [];
    if (set.bad !== undefined) this.fail(`<${name}> holds the ID "${set.bad}", not an integer`);
    return set.ids;
  }
}

/** A VM set or SCHED_ACTIONS: its IDs, and the text of the first one that is not an integer. */
interface IdSet {
  readonly ids: number[];
  readonly bad: string | undefined;
}

function idSet(p: Pull, name: string): IdSet {
  const ids: number[] = [];
  let bad: string | undefined;
  if (!p.empty) {
    for (let c = p.next(name, false); c !== undefined; c = p.next(name, false)) {
      if (c !== 'ID') {
        p.skip(c);
        continue;
      }
      const text = p.textOf(c);
      const t = text.trim();
      if (ID.test(t)) ids.push(Number(t));
      else bad ??= text;
    }
  }
  return { ids, bad };
}

/** The elements of a LOCK, PERMISSIONS or SCHED_ACTION as text, the first of each name. */
type Fields = { [name: string]: string | undefined };

/** The texts of the children of the element just started whose names are in `names`. */
function fields(p: Pull, parent: string, names: ReadonlySet<string>): Fields {
  const out: Fields = {};
  if (p.empty) return out;
  for (let c = p.next(parent, false); c !== undefined; c = p.next(parent, false)) {
    if (names.has(c) && out[c] === undefined) out[c] = p.textOf(c);
    else p.skip(c);
  }
  return out;
}

const LOCK_FIELDS = new Set(['LOCKED', 'OWNER', 'TIME', 'REQ_ID']);
const PERMISSION_FIELDS = new Set<string>(PERMISSION_ELEMENTS);
const SCHED_FIELDS = new Set([
  ...['ID', 'PARENT_ID', 'TYPE', 'ACTION', 'ARGS', 'TIME', 'REPEAT', 'DAYS', 'END_TYPE'],
  ...['END_VALUE', 'DONE', 'MESSAGE', 'WARNING', 'INTERVAL', 'CRON'],
]);

function lockOf(k: Check, f: Fields): BackupJobLock {
  return {
    locked: k.int('LOCK', 'LOCKED', f['LOCKED']),
    owner: k.int('LOCK', 'OWNER', f['OWNER'], -1),
    time: k.int('LOCK', 'TIME', f['TIME'], 0),
    reqId: k.int('LOCK', 'REQ_ID', f['REQ_ID'], -1),
  };
}

function permissionsOf(k: Check, f: Fields): Permissions {
  const flag = (el: (typeof PERMISSION_ELEMENTS)[number]) => k.int('PERMISSIONS', el, f[el]) === 1;
  return {
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
}

function schedActionOf(k: Check, f: Fields): SchedAction {
  const int = (name: string, fallback?: number) => k.int('SCHED_ACTION', name, f[name], fallback);
  return {
    id: int('ID'),
    parentId: int('PARENT_ID', -1),
    type: f['TYPE'] ?? '',
    action: f['ACTION'] ?? '',
    args: f['ARGS'] ?? '',
    time: int('TIME'),
    repeat: int('REPEAT', -1),
    days: f['DAYS'] ?? '',
    endType: int('END_TYPE', -1),
    endValue: int('END_VALUE', -1),
    done: int('DONE', -1),
    message: f['MESSAGE'] ?? '',
    warning: int('WARNING', 0),
    interval: f['INTERVAL'] ?? '',
    cron: f['CRON'] ?? '',
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

function templateOf(p: Pull, template: TemplateAttribute[], schedActions: Fields[]): void {
  if (p.empty) return;
  for (let c = p.next('TEMPLATE', false); c !== undefined; c = p.next('TEMPLATE', false)) {
    if (c === 'SCHED_ACTION') schedActions.push(fields(p, c, SCHED_FIELDS));
    else template.push(attributeOf(p, c));
  }
}

/**
 * A `<BACKUPJOB>` whose start tag was just read; `where` names it in errors when it has no ID.
 * Plain locals: this runs once per listed job.
 */
function backupJobOf(p: Pull, where: string): BackupJobDoc {
  let id: string | undefined;
  let uid: string | undefined;
  let gid: string | undefined;
  let uname: string | undefined;
  let gname: string | undefined;
  let name: string | undefined;
  let lock: Fields | undefined;
  let permissions: Fields | undefined;
  let priority: string | undefined;
  let lastBackupTime: string | undefined;
  let lastBackupDuration: string | undefined;
  let schedActionIds: IdSet | undefined;
  let updatedVms: IdSet | undefined;
  let outdatedVms: IdSet | undefined;
  let backingUpVms: IdSet | undefined;
  let errorVms: IdSet | undefined;
  let template: TemplateAttribute[] | undefined;
  const schedActions: Fields[] = [];
  if (!p.empty) {
    for (let c = p.next('BACKUPJOB', false); c !== undefined; c = p.next('BACKUPJOB', false)) {
      // The first element of a name is the one read; later ones are only checked.
      if (c === 'ID' && id === undefined) id = p.textOf(c);
      else if (c === 'UID' && uid === undefined) uid = p.textOf(c);
      else if (c === 'GID' && gid === undefined) gid = p.textOf(c);
      else if (c === 'UNAME' && uname === undefined) uname = p.textOf(c);
      else if (c === 'GNAME' && gname === undefined) gname = p.textOf(c);
      else if (c === 'NAME' && name === undefined) name = p.textOf(c);
      else if (c === 'LOCK' && lock === undefined) lock = fields(p, c, LOCK_FIELDS);
      else if (c === 'PERMISSIONS' && permissions === undefined)
        permissions = fields(p, c, PERMISSION_FIELDS);
      else if (c === 'PRIORITY' && priority === undefined) priority = p.textOf(c);
      else if (c === 'LAST_BACKUP_TIME' && lastBackupTime === undefined) lastBackupTime = p.textOf(c);
      else if (c === 'LAST_BACKUP_DURATION' && lastBackupDuration === undefined)
        lastBackupDuration = p.textOf(c);
      else if (c === 'SCHED_ACTIONS' && schedActionIds === undefined) schedActionIds = idSet(p, c);
      else if (c === 'UPDATED_VMS' && updatedVms === undefined) updatedVms = idSet(p, c);
      else if (c === 'OUTDATED_VMS' && outdatedVms === undefined) outdatedVms = idSet(p, c);
      else if (c === 'BACKING_UP_VMS' && backingUpVms === undefined) backingUpVms = idSet(p, c);
      else if (c === 'ERROR_VMS' && errorVms === undefined) errorVms = idSet(p, c);
      else if (c === 'TEMPLATE' && template === undefined) {
        template = [];
        templateOf(p, template, schedActions);
      } else p.skip(c);
    }
  }
  const idText = id?.trim();
  const k = new Check(idText ? `backup job ${idText}` : where);
  const B = 'BACKUPJOB';
  const jobId = k.int(B, 'ID', id);
  const jobUid = k.int(B, 'UID', uid);
  const jobGid = k.int(B, 'GID', gid);
  const jobUname = k.text(B, 'UNAME', uname);
  const jobGname = k.text(B, 'GNAME', gname);
  const jobName = k.text(B, 'NAME', name);
  const jobLock = lock && lockOf(k, lock);
  const jobPermissions = permissionsOf(k, permissions ?? k.fail('<BACKUPJOB> has no <PERMISSIONS>'));
  // The tree reader's key order: `lock` (only when there is one) between name and permissions.
  return {
    id: jobId,
    uid: jobUid,
    gid: jobGid,
    uname: jobUname,
    gname: jobGname,
    name: jobName,
    ...(jobLock ? { lock: jobLock } : {}),
    permissions: jobPermissions,
    priority: k.int(B, 'PRIORITY', priority),
    lastBackupTime: k.int(B, 'LAST_BACKUP_TIME', lastBackupTime),
    lastBackupDuration: k.int(B, 'LAST_BACKUP_DURATION', lastBackupDuration),
    schedActionIds: k.ids('SCHED_ACTIONS', schedActionIds),
    updatedVms: k.ids('UPDATED_VMS', updatedVms),
    outdatedVms: k.ids('OUTDATED_VMS', outdatedVms),
    backingUpVms: k.ids('BACKING_UP_VMS', backingUpVms),
    errorVms: k.ids('ERROR_VMS', errorVms),
    template: template ?? [],
    schedActions: schedActions.map((f) => schedActionOf(k, f)),
  };
}

/** core/xml/tree.ts's message for a document that is not well formed, if it is not. */
function syntaxError(xml: string, what: string): string | undefined {
  try {
    parseXmlTree(xml);
    return undefined;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return `${what}: the daemon's answer is not XML (${reason})`;
  }
}

/** Runs read over the document, line ends read as LF and a leading BOM dropped, as parseXmlTree does. */
function readDocument<T>(xml: string, what: string, read: (p: Pull) => T): ReadResult<T> {
  let src = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  if (src.indexOf('\r') !== -1) src = src.replace(/\r\n?/g, '\n');
  try {
    return { ok: read(new Pull(src)) };
  } catch (err) {
    if (!(err instanceof NotWellFormed || err instanceof NotABackupJob)) throw err;
    // Not being XML is what a document is reported for, whatever else is wrong in it.
    const syntax = syntaxError(xml, what);
    if (syntax !== undefined) return { error: syntax };
    if (err instanceof NotABackupJob) return { error: err.message };
    throw new Error(`${what}: the reader refused a document core/xml/tree.ts reads`);
  }
}

/** `one.backupjob.info`: one `<BACKUPJOB>`. */
export function readBackupJob(xml: string): ReadResult<BackupJobDoc> {
  return readDocument(xml, 'backup job', (p) => {
    const root = p.root();
    if (root !== 'BACKUPJOB') throw new NotABackupJob(`backup job: expected <BACKUPJOB>, got <${root}>`);
    const job = backupJobOf(p, 'backup job');
    p.end();
    return job;
  });
}

/** `one.backupjobpool.info`: `<BACKUPJOB_POOL>`, its jobs in document order. */
export function readBackupJobPool(xml: string): ReadResult<BackupJobDoc[]> {
  return readDocument(xml, 'backup job pool', (p) => {
    const root = p.root();
    if (root !== 'BACKUPJOB_POOL')
      throw new NotABackupJob(`backup job pool: expected <BACKUPJOB_POOL>, got <${root}>`);
    const jobs: BackupJobDoc[] = [];
    if (!p.empty) {
      for (let c = p.next(root, false); c !== undefined; c = p.next(root, false)) {
        const where = `backup job pool, entry ${jobs.length + 1}`;
        if (c !== 'BACKUPJOB') throw new NotABackupJob(`${where}: expected <BACKUPJOB>, got <${c}>`);
        jobs.push(backupJobOf(p, where));
      }
    }
    p.end();
    return jobs;
  });
}

/** readBackupJob's job, or undefined when the document is refused. */
export function pullBackupJob(xml: string): BackupJobDoc | undefined {
  const r = readBackupJob(xml);
  return 'ok' in r ? r.ok : undefined;
}

/** readBackupJobPool's jobs, or undefined when the document is refused. */
export function pullBackupJobPool(xml: string): BackupJobDoc[] | undefined {
  const r = readBackupJobPool(xml);
  return 'ok' in r ? r.ok : undefined;
}

/** The daemon sent something that is not the document described above. */
export class BackupJobXmlError extends CliError {}

/** `one.backupjob.info`: one `<BACKUPJOB>`. */
export function parseBackupJobXml(xml: string): BackupJobDoc {
  const r = readBackupJob(xml);
  if ('error' in r) throw new BackupJobXmlError(r.error);
  return r.ok;
}

/** `one.backupjobpool.info`: `<BACKUPJOB_POOL>`, its jobs in document order (newest first). */
export function parseBackupJobPoolXml(xml: string): BackupJobDoc[] {
  const r = readBackupJobPool(xml);
  if ('error' in r) throw new BackupJobXmlError(r.error);
  return r.ok;
}
