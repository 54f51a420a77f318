import type { Kysely } from 'kysely';

/**
 * Verify results per image (issue 10): when a verify last found the image whole (epoch seconds,
 * 0 = never). A broken image is STATE 5 (ERROR) with the reason in its ERROR attribute, as
 * OpenNebula shows images in error; retention never drops a VM's newest image that verified good.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('images')
    .addColumn('verified_at', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0005-verify-results cannot be reverted');
}
