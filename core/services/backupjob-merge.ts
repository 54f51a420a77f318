/**
 * The template `onebackupjob update` normalises, from the stored one and the update: replaced
 * (type 0) or merged (type 1, OpenNebula's Template::merge). NAME, PRIORITY and SCHED_ACTION
 * given in an update are dropped (their own calls change them), and so is ERROR: it is the
 * daemon's, and `update` puts the stored one back.
 */
import { replaceMerge } from '../template/access.js';
import type { PlainAttribute } from '../template/attributes.js';
import type { Attribute } from '../template/types.js';

/** `type` 0 replaces the stored template, 1 merges the update into it. */
export function mergeJobUpdate(
  old: readonly PlainAttribute[],
  incoming: readonly Attribute[],
  type: number,
): readonly Attribute[] {
  const fresh = incoming.filter((a) => !['NAME', 'PRIORITY', 'SCHED_ACTION'].includes(a.name));
  let merged: readonly Attribute[];
  if (type === 0) merged = fresh;
  else {
    // Template::merge: a name in the update replaces the old values; `KEY = [ ]` deletes KEY.
    const kept: Attribute[] = old.map((a) =>
      a.kind === 'single' ? { ...a, line: 0, column: 0 } : { ...a, positions: new Map(), line: 0, column: 0 },
    );
    merged = replaceMerge(kept, fresh);
  }
  // Keep the system-set ERROR attribute across updates.
  return merged.filter((a) => a.name !== 'ERROR');
}
