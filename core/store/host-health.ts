/** The last monitoring check of each host (migration 0011), written by whichever daemon checked it. */
import type { HostHealth } from '../vm-discovery.js';
import type { Queryable, Tx } from './db.js';

export interface StoredHostHealth {
  readonly hostId: number;
  /** The host's NAME when it was checked. */
  readonly name: string;
  /** Epoch seconds of the check. */
  readonly checkedAt: number;
  readonly health: HostHealth;
}

/** Replaces each host's last check; hosts deleted meanwhile are skipped. */
export async function recordHostHealth(trx: Tx, checks: readonly StoredHostHealth[]): Promise<void> {
  if (checks.length === 0) return;
  const existing = new Set((await trx.selectFrom('hosts').select('id').execute()).map((r) => r.id));
  for (const c of checks) {
    if (!existing.has(c.hostId)) continue;
    const row = { name: c.name, checked_at: c.checkedAt, health: JSON.stringify(c.health) };
    await trx
      .insertInto('host_health')
      .values({ host_id: c.hostId, ...row })
      .onConflict((oc) => oc.column('host_id').doUpdateSet(row))
      .execute();
  }
}

export async function forgetHostHealth(trx: Tx, hostId: number): Promise<void> {
  await trx.deleteFrom('host_health').where('host_id', '=', hostId).execute();
}

/** Every host's last check, by host ID. */
export async function hostHealthByHost(db: Queryable): Promise<Map<number, StoredHostHealth>> {
  const rows = await db.selectFrom('host_health').selectAll().execute();
  return new Map(
    rows.map((r) => [
      r.host_id,
      {
        hostId: r.host_id,
        name: r.name,
        checkedAt: r.checked_at,
        health: JSON.parse(r.health) as HostHealth,
      },
    ]),
  );
}
