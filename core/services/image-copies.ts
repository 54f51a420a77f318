/**
 * An image's copies as its document shows them: one BACKUP_COPY vector per copy target in the
 * image's TEMPLATE (free-form in OpenNebula's IMAGE schema, so clients built from it read it as
 * any template attribute). STATE is the image's: FAILED when an increment's copy failed (REASON,
 * TIME of that failure), else PENDING while one waits, else COPIED.
 */
import type { CopyRow } from '../store/copies.js';
import type { PlainAttribute } from '../template/attributes.js';

export function copyAttributes(
  rows: readonly CopyRow[],
  datastoreNames: ReadonlyMap<number, string>,
): PlainAttribute[] {
  const byTarget = new Map<number, CopyRow[]>();
  for (const r of rows) byTarget.set(r.datastore_id, [...(byTarget.get(r.datastore_id) ?? []), r]);
  return [...byTarget].map(([target, list]) => {
    const of = (state: CopyRow['state']) => list.filter((r) => r.state === state);
    const failed = of('FAILED');
    const pending = of('PENDING');
    const state = failed.length > 0 ? 'FAILED' : pending.length > 0 ? 'PENDING' : 'COPIED';
    const last = (failed.length > 0 ? failed : list).reduce((a, b) => (b.time > a.time ? b : a));
    const ids = (l: readonly CopyRow[]) => l.map((r) => r.inc_id).join(',');
    const values = new Map<string, string>([
      ['DATASTORE_ID', String(target)],
      ['DATASTORE', datastoreNames.get(target) ?? ''],
      ['STATE', state],
      ['COPIED_INCREMENTS', ids(of('COPIED'))],
      ['PENDING_INCREMENTS', ids(pending)],
      ['FAILED_INCREMENTS', ids(failed)],
      ['TIME', String(last.time)],
      ['REASON', failed.length > 0 ? last.reason : ''],
      ['ATTEMPTS', String(last.attempts)],
      ['CHUNKS_WRITTEN', String(list.reduce((s, r) => s + r.chunks_written, 0))],
      ['BYTES_WRITTEN', String(list.reduce((s, r) => s + r.bytes_written, 0))],
    ]);
    return { kind: 'vector', name: 'BACKUP_COPY', values } as const;
  });
}
