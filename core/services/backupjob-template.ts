/**
 * The attributes of a backup job (SPEC.md 2.1 with decisions 2 and 4): checks, normalisation and
 * defaults. Every problem is collected, so one call reports all of them at once; nothing here
 * touches the store (references are checked by the service).
 */
import type { TemplateProblem } from '../errors.js';
import {
  BACKUP_MODES,
  EXECUTION_MODES,
  FS_FREEZE_MODES,
  INCREMENT_MODES,
  isBackupMode,
  isExecution,
  isFsFreeze,
  isIncrementMode,
} from '../model.js';
import { parseRpo } from '../schedule/rpo.js';
import type { PlainAttribute } from '../template/attributes.js';
import { JOB_SINGLETONS } from '../template/job-attributes.js';
import type { Attribute, Position, VectorAttribute } from '../template/types.js';
import { checkName } from './objects.js';

export interface NormalisedJobTemplate {
  /** TEMPLATE contents as stored: normalised values and defaults, no NAME/PRIORITY/SCHED_ACTION. */
  readonly attributes: PlainAttribute[];
  readonly name: string | undefined;
  readonly priority: number | undefined;
  readonly backupVms: readonly number[];
  readonly datastoreId: number | undefined;
  readonly schedActions: readonly VectorAttribute[];
  /** Where BACKUP_VMS and DATASTORE_ID were written, for reference errors. */
  readonly positions: ReadonlyMap<string, Position>;
}

const NOWHERE: Position = { line: 0, column: 0 };

function problem(at: Position, attribute: string, message: string): TemplateProblem {
  return { line: at.line, column: at.column, attribute, message };
}

function enumProblem(at: Position, name: string, value: string, allowed: readonly string[]): TemplateProblem {
  return problem(at, name, `${name}="${value}" is not one of ${allowed.join(', ')}`);
}

/**
 * VMs one backup job may list. Each is checked against the inventory and the caller's rights in
 * the transaction that saves the job, and the scheduler tracks each: a bound keeps one template
 * from holding the daemon (and every other client) for seconds.
 */
export const MAX_BACKUP_VMS = 1000;

/**
 * "1, 2,3" → [1,2,3]; reports pieces that are not whole numbers and repeated IDs, or a list longer
 * than `max` (then nothing else, and no IDs).
 */
export function parseIdList(
  value: string,
  at: Position,
  name: string,
  what: string,
  problems: TemplateProblem[],
  options: { rejectDuplicates: boolean; max?: number },
): number[] {
  if (value.trim() === '') return [];
  const pieces = value.split(',');
  if (options.max !== undefined && pieces.length > options.max) {
    problems.push(
      problem(
        at,
        name,
        `${name} lists ${pieces.length} ${what}s; a backup job may list at most ${options.max}; split them over several backup jobs`,
      ),
    );
    return [];
  }
  const shown = value.length > 60 ? `${value.slice(0, 60)}...` : value;
  const ids: number[] = [];
  const seen = new Set<number>();
  /** How often each ID repeats: one message per ID, however many times it is listed. */
  const repeats = new Map<number, number>();
  for (const piece of pieces) {
    const text = piece.trim();
    if (!/^\d+$/.test(text)) {
      problems.push(
        problem(
          at,
          name,
          `"${text}" in ${name}="${shown}" is not a ${what} ID; write a comma-separated list of IDs, e.g. "1,2,3"`,
        ),
      );
      continue;
    }
    const id = Number(text);
    if (seen.has(id)) {
      repeats.set(id, (repeats.get(id) ?? 1) + 1);
      continue;
    }
    seen.add(id);
    ids.push(id);
  }
  if (options.rejectDuplicates) {
    for (const [id, times] of repeats) {
      const count = times === 2 ? 'twice' : `${times} times`;
      problems.push(
        problem(at, name, `${what} ${id} is listed ${count} in ${name}="${shown}"; list each once`),
      );
    }
  }
  return ids;
}

function yesNo(value: string): 'YES' | 'NO' | undefined {
  const v = value.toUpperCase();
  if (v === 'YES' || v === 'TRUE') return 'YES';
  if (v === 'NO' || v === 'FALSE') return 'NO';
  return undefined;
}

function wholeNumber(value: string): number | undefined {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

function plain(a: Attribute): PlainAttribute {
  return a.kind === 'single'
    ? { kind: 'single', name: a.name, value: a.value }
    : { kind: 'vector', name: a.name, values: a.values };
}

/**
 * Checks and normalises a job template. `problems` receives every problem found; the caller
 * throws a TemplateError when it is not empty.
 */
export function normaliseJobTemplate(
  attrs: readonly Attribute[],
  problems: TemplateProblem[],
  options: { isAdmin: boolean },
): NormalisedJobTemplate {
  const singles = new Map<string, { value: string; at: Position }>();
  const positions = new Map<string, Position>();
  const schedActions: VectorAttribute[] = [];
  const others: PlainAttribute[] = [];

  for (const a of attrs) {
    if (a.name === 'SCHED_ACTION') {
      if (a.kind === 'vector') schedActions.push(a);
      else
        problems.push(
          problem(a, a.name, 'SCHED_ACTION must be a vector: SCHED_ACTION = [ TIME = ..., ... ]'),
        );
      continue;
    }
    if (!(JOB_SINGLETONS as readonly string[]).includes(a.name)) {
      others.push(plain(a));
      continue;
    }
    if (a.kind === 'vector') {
      problems.push(problem(a, a.name, `${a.name} takes a single value, not a vector [ ... ]`));
      continue;
    }
    const seen = singles.get(a.name);
    if (seen) {
      if (seen.value !== a.value) {
        problems.push(
          problem(
            a,
            a.name,
            `${a.name} is given twice (lines ${seen.at.line} and ${a.line}) with different values; keep one`,
          ),
        );
      }
      continue;
    }
    const at = a.valueAt ?? { line: a.line, column: a.column };
    singles.set(a.name, { value: a.value, at });
    positions.set(a.name, at);
  }

  const get = (name: string) => singles.get(name);
  const out: PlainAttribute[] = [];
  const put = (name: string, value: string) => out.push({ kind: 'single', name, value });

  // NAME and PRIORITY live outside TEMPLATE.
  const nameAttr = get('NAME');
  if (nameAttr) {
    const p = checkName(nameAttr.value);
    if (p) problems.push(problem(nameAttr.at, 'NAME', p));
  }

  let priority: number | undefined;
  const prio = get('PRIORITY');
  if (prio) {
    const n = /^-?\d+$/.test(prio.value) ? Number(prio.value) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > 99) {
      problems.push(
        problem(
          prio.at,
          'PRIORITY',
          `PRIORITY="${prio.value}" is not an integer in 0-99 (users 0-49, admins 0-99)`,
        ),
      );
    } else if (n > 49 && !options.isAdmin) {
      problems.push(problem(prio.at, 'PRIORITY', `PRIORITY ${n} is for admins (50-99); users may set 0-49`));
    } else priority = n;
  }

  const vmsAttr = get('BACKUP_VMS');
  const backupVms = vmsAttr
    ? parseIdList(vmsAttr.value, vmsAttr.at, 'BACKUP_VMS', 'VM', problems, {
        rejectDuplicates: true,
        max: MAX_BACKUP_VMS,
      })
    : [];
  put('BACKUP_VMS', backupVms.join(','));

  const volatile = get('BACKUP_VOLATILE');
  const volatileValue = volatile ? yesNo(volatile.value) : 'NO';
  if (volatile && !volatileValue) {
    problems.push(enumProblem(volatile.at, 'BACKUP_VOLATILE', volatile.value, ['YES', 'NO']));
  }
  put('BACKUP_VOLATILE', volatileValue ?? 'NO');

  let datastoreId: number | undefined;
  const ds = get('DATASTORE_ID');
  if (ds) {
    datastoreId = wholeNumber(ds.value);
    if (datastoreId === undefined) {
      problems.push(
        problem(ds.at, 'DATASTORE_ID', `DATASTORE_ID="${ds.value}" is not a datastore ID (a whole number)`),
      );
    } else put('DATASTORE_ID', String(datastoreId));
  }

  const diskIds = get('DISK_IDS');
  if (diskIds) {
    const local: TemplateProblem[] = [];
    const ids = parseIdList(diskIds.value, diskIds.at, 'DISK_IDS', 'disk', local, {
      rejectDuplicates: false,
    });
    if (local.length > 0)
      problems.push(problem(diskIds.at, 'DISK_IDS', `Invalid DISK_IDS value: ${diskIds.value}`));
    else put('DISK_IDS', [...ids].sort((a, b) => a - b).join(','));
  }

  const exec = get('EXECUTION');
  const execValue = exec ? exec.value.toUpperCase() : 'SEQUENTIAL';
  if (!isExecution(execValue))
    problems.push(enumProblem(exec?.at ?? NOWHERE, 'EXECUTION', exec?.value ?? '', EXECUTION_MODES));
  put('EXECUTION', execValue);

  const freeze = get('FS_FREEZE');
  const freezeValue = freeze ? freeze.value.toUpperCase() : 'NONE';
  if (!isFsFreeze(freezeValue))
    problems.push(enumProblem(freeze?.at ?? NOWHERE, 'FS_FREEZE', freeze?.value ?? '', FS_FREEZE_MODES));
  put('FS_FREEZE', freezeValue);

  // Ours, not OpenNebula's: what an AGENT freeze that gets no answer does to the backup.
  const freezeFailure = get('FS_FREEZE_FAILURE');
  if (freezeFailure) {
    const v = freezeFailure.value.toUpperCase();
    if (v !== 'FAIL' && v !== 'CONTINUE')
      problems.push(
        enumProblem(freezeFailure.at, 'FS_FREEZE_FAILURE', freezeFailure.value, ['FAIL', 'CONTINUE']),
      );
    put('FS_FREEZE_FAILURE', v);
  }

  const mode = get('MODE');
  const modeValue = mode ? mode.value.toUpperCase() : 'FULL';
  if (!isBackupMode(modeValue))
    problems.push(enumProblem(mode?.at ?? NOWHERE, 'MODE', mode?.value ?? '', BACKUP_MODES));

  const incr = get('INCREMENT_MODE');
  if (incr) {
    const v = incr.value.toUpperCase();
    if (!isIncrementMode(v))
      problems.push(enumProblem(incr.at, 'INCREMENT_MODE', incr.value, INCREMENT_MODES));
    put('INCREMENT_MODE', v);
  } else if (modeValue === 'INCREMENT') put('INCREMENT_MODE', 'CBT');

  const keep = get('KEEP_LAST');
  const keepValue = keep ? wholeNumber(keep.value) : 0;
  if (keep && keepValue === undefined) {
    problems.push(
      problem(
        keep.at,
        'KEEP_LAST',
        `KEEP_LAST="${keep.value}" is not a whole number >= 0 (0 keeps every backup)`,
      ),
    );
  }
  put('KEEP_LAST', String(keepValue ?? 0));
  put('MODE', modeValue);

  const reset = get('RESET');
  if (reset) {
    if (!yesNo(reset.value)) problems.push(enumProblem(reset.at, 'RESET', reset.value, ['YES', 'NO']));
    put('RESET', reset.value);
  }

  for (const name of ['MAX_RETRIES', 'RETRY_INTERVAL'] as const) {
    const a = get(name);
    if (!a) continue;
    const n = wholeNumber(a.value);
    if (n === undefined) {
      const unit = name === 'RETRY_INTERVAL' ? ' (seconds)' : '';
      problems.push(problem(a.at, name, `${name}="${a.value}" is not a whole number >= 0${unit}`));
    } else put(name, String(n));
  }

  const rpo = get('RPO');
  if (rpo) {
    const parsed = parseRpo(rpo.value);
    if ('problem' in parsed) problems.push(problem(rpo.at, 'RPO', parsed.problem));
    else put('RPO', rpo.value.trim().toLowerCase());
  }

  return {
    attributes: [...out, ...others],
    name: nameAttr?.value,
    priority,
    backupVms,
    datastoreId,
    schedActions,
    positions,
  };
}
