/**
 * Verify of a copy target reads the copies it holds too (COPY_DATASTORE_ID): their problems do
 * not mark the image ERROR (its own datastore may be whole) but the copy FAILED with the reason,
 * due at once, so the copier copies again what the verify found missing or moved aside.
 */
import type { ReferencedIncrement, VerifyResult } from '../engine/maintenance.js';
import { copiesOnDatastore, recordCopyFailed } from '../store/copies.js';
import type { Queryable, Tx } from '../store/db.js';

export interface VerifyList {
  /** Own increments and copies, by image then increment (the order a budgeted verify resumes in). */
  readonly all: ReferencedIncrement[];
  readonly copies: readonly ReferencedIncrement[];
  readonly datastoreId: number;
}

const key = (i: { imageId: number; incrementId: number }) => `${i.imageId}/${i.incrementId}`;

/** The datastore's own increments and, for a whole-datastore verify, the copies it holds. */
export async function withCopies(
  db: Queryable,
  datastoreId: number,
  own: readonly ReferencedIncrement[],
  wholeDatastore: boolean,
): Promise<VerifyList> {
  const copies = wholeDatastore ? await copiesOnDatastore(db, datastoreId) : [];
  const all = [...own, ...copies].sort((a, b) => a.imageId - b.imageId || a.incrementId - b.incrementId);
  return { all, copies, datastoreId };
}

/** The result as the images' verdicts see it: only their own increments. */
export function ownPart(list: VerifyList, result: VerifyResult): VerifyResult {
  const copies = new Set(list.copies.map(key));
  return {
    ...result,
    problems: result.problems.filter((p) => !copies.has(key(p))),
    completed: result.completed.filter((c) => !copies.has(key(c))),
  };
}

/** Marks each copy the verify found broken FAILED (due now); returns how many. */
export async function recordCopyProblems(
  trx: Tx,
  list: VerifyList,
  result: VerifyResult,
  nowS: number,
): Promise<number> {
  const copies = new Set(list.copies.map(key));
  const first = new Map<string, string>();
  for (const p of result.problems)
    if (copies.has(key(p)) && !first.has(key(p)))
      first.set(key(p), `verify: ${p.diskId >= 0 ? `disk ${p.diskId}: ` : ''}${p.message}`);
  for (const [k, reason] of first) {
    const [imageId, incrementId] = k.split('/').map(Number) as [number, number];
    await recordCopyFailed(trx, { imageId, incrementId, datastoreId: list.datastoreId }, reason, nowS, nowS);
  }
  return first.size;
}
