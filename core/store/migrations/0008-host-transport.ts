import type { Kysely } from 'kysely';
import { decodeAttributes, encodeAttributes, setSingle } from '../../template/attributes.js';

/**
 * Hosts are reached over SSH by their NAME unless TRANSPORT = "local". Every host made before
 * that was the daemon's own machine: each one without a TRANSPORT gets TRANSPORT = "local", so
 * nothing changes for it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const hosts = db as unknown as Kysely<{ hosts: { id: number; template: string } }>;
  const rows = await hosts.selectFrom('hosts').select(['id', 'template']).execute();
  for (const row of rows) {
    const attrs = decodeAttributes(row.template);
    if (attrs.some((a) => a.name === 'TRANSPORT')) continue;
    await hosts
      .updateTable('hosts')
      .set({ template: encodeAttributes(setSingle(attrs, 'TRANSPORT', 'local')) })
      .where('id', '=', row.id)
      .execute();
  }
}

export async function down(): Promise<void> {
  throw new Error('0008-host-transport cannot be reverted');
}
