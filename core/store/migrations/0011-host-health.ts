import type { Kysely } from 'kysely';

/**
 * What host monitoring last found about each host (reachable, agent version, free space where
 * its disks live), in the store rather than in one daemon's memory: every daemon sharing the
 * store shows the same `onehost list/show`, and a restarted daemon shows the last check.
 * Monitoring data, not state: `onebackupd db-copy` leaves it (the next pass writes it again).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('host_health')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('checked_at', 'integer', (c) => c.notNull())
    .addColumn('health', 'text', (c) => c.notNull())
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0011-host-health cannot be reverted');
}
