/** The one cluster (0, "default"): every host and every datastore belongs to it. */
import type { Queryable } from './db.js';

export async function clusterMemberIds(
  db: Queryable,
): Promise<{ hostIds: number[]; datastoreIds: number[] }> {
  const hosts = await db.selectFrom('hosts').select('id').orderBy('id').execute();
  const datastores = await db.selectFrom('datastores').select('id').orderBy('id').execute();
  return { hostIds: hosts.map((h) => h.id), datastoreIds: datastores.map((d) => d.id) };
}
