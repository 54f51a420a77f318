import type { Kysely } from 'kysely';

/**
 * Where each daemon keeps its state (`HOST:STATE_DIR`): a daemon that starts on a state directory
 * holds its lock, so a row left there by an earlier daemon is dead for certain, and its backups are
 * requeued at once instead of after the lease (a restart after a crash, one daemon or several).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('daemons')
    .addColumn('home', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0012-daemon-home cannot be reverted');
}
