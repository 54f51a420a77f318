import type { Tx } from '../store/db.js';
import { ownerNameMaps } from '../store/owned.js';
import type { OwnedColumns } from '../store/schema.js';

/** User and group names for a set of owned rows, for the UNAME/GNAME of documents. */
export async function ownerNames(
  trx: Tx,
  rows: readonly OwnedColumns[],
): Promise<{ uname: (uid: number) => string; gname: (gid: number) => string }> {
  if (rows.length === 0) return { uname: String, gname: String };
  const { users, groups } = await ownerNameMaps(trx);
  return {
    uname: (uid) => users.get(uid) ?? String(uid),
    gname: (gid) => groups.get(gid) ?? String(gid),
  };
}

export interface Named<T> {
  readonly row: T;
  readonly uname: string;
  readonly gname: string;
}

export async function withNames<T extends OwnedColumns>(trx: Tx, rows: readonly T[]): Promise<Named<T>[]> {
  const names = await ownerNames(trx, rows);
  return rows.map((row) => ({ row, uname: names.uname(row.uid), gname: names.gname(row.gid) }));
}
