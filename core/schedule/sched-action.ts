/**
 * SCHED_ACTION vectors of a template to stored fields: `parseSchedAction` for a new schedule,
 * `updateSchedAction` for `schedupdate` (the stored fields merged with the sub-keys given). Both
 * validate with sched-action-check.ts and throw a TemplateError with every problem found.
 */
import type { Position, VectorAttribute } from '../template/types.js';
import { validateSchedAction } from './sched-action-check.js';
import {
  END_DATE,
  END_TIMES,
  KIND_KEYS,
  type ParsedSchedAction,
  REPEAT_NONE,
  type SchedActionFields,
  type SchedActionOptions,
} from './sched-action-fields.js';

function locator(vector: VectorAttribute): (key: string) => Position {
  return (key) => vector.positions.get(key) ?? { line: vector.line, column: vector.column };
}

/**
 * Validates a SCHED_ACTION vector. Throws a TemplateError with every problem found.
 * For a backup job ACTION is always `backup` (a given ACTION is ignored) and ARGS is dropped.
 */
export function parseSchedAction(vector: VectorAttribute, options: SchedActionOptions): ParsedSchedAction {
  return validateSchedAction(vector.values, locator(vector), options);
}

/**
 * `schedupdate`: the sub-keys given replace the stored ones, the rest keep their values, and the
 * result is validated as a whole (ONE re-checks only what was given). Changing REPEAT to another
 * kind needs DAYS too, and changing END_TYPE to 1 or 2 needs END_VALUE too: the old value would
 * mean something else (weekly "1,4" read as monthly days; a run count read as a date).
 */
export function updateSchedAction(
  existing: SchedActionFields & { readonly action?: string; readonly args?: string },
  vector: VectorAttribute,
  options: SchedActionOptions = { forBackupJob: true },
): ParsedSchedAction {
  const given = (key: string) => {
    const v = vector.values.get(key)?.trim();
    return v === '' ? undefined : v;
  };
  // A new kind given (REPEAT other than -1, INTERVAL or CRON) replaces the old kind.
  const newKind = KIND_KEYS.find(
    (k) => given(k) !== undefined && !(k === 'REPEAT' && Number(given(k)) === -1),
  );
  const keep = (k: (typeof KIND_KEYS)[number]) => newKind === undefined || newKind === k;
  const merged = new Map<string, string>([
    ['TIME', String(existing.time)],
    ['REPEAT', String(keep('REPEAT') ? existing.repeat : REPEAT_NONE)],
    ['END_TYPE', String(existing.endType)],
  ]);
  if (existing.interval && keep('INTERVAL')) merged.set('INTERVAL', existing.interval);
  if (existing.cron && keep('CRON')) merged.set('CRON', existing.cron);
  // A changed CRON starts from its first match after now, not from the old expression's TIME;
  // START replaces TIME.
  if (
    (given('CRON') !== undefined && given('TIME') === undefined && options.now !== undefined) ||
    given('START') !== undefined
  ) {
    merged.delete('TIME');
  }
  if (given('END') !== undefined && given('END_TYPE') === undefined) merged.delete('END_TYPE');
  if (existing.warning !== 0) merged.set('WARNING', String(existing.warning));
  if (existing.action !== undefined) merged.set('ACTION', existing.action);
  if (existing.args !== undefined) merged.set('ARGS', existing.args);

  const missing = new Map<string, string>();
  const repeat = given('REPEAT');
  if (repeat === undefined || Number(repeat) === existing.repeat) {
    if (existing.repeat !== REPEAT_NONE) merged.set('DAYS', existing.days);
  } else missing.set('DAYS', `REPEAT changes from ${existing.repeat} to ${repeat}: give DAYS as well`);
  const endType = given('END_TYPE');
  if (endType === undefined || Number(endType) === existing.endType) {
    if (existing.endType === END_TIMES || existing.endType === END_DATE) {
      merged.set('END_VALUE', String(existing.endValue));
    }
  } else {
    missing.set(
      'END_VALUE',
      `END_TYPE changes from ${existing.endType} to ${endType}: give END_VALUE as well`,
    );
  }

  for (const [k, v] of vector.values) merged.set(k, v);
  const updated = validateSchedAction(merged, locator(vector), options, missing);
  // The wall clock the repeats follow stays unless the start or the kind of repeat changed.
  const restarted = ['TIME', 'START', 'REPEAT', 'INTERVAL', 'CRON'].some((k) => given(k) !== undefined);
  const anchor =
    existing.anchor !== undefined && existing.anchor >= 0 && !restarted ? existing.anchor : updated.time;
  return { ...updated, anchor };
}
