import type { Kysely } from 'kysely';

/**
 * Login tokens (`one.user.login`, `oneuser token-create`): a token is usable as the user's
 * password until it expires. Only the SHA-256 of the token is kept. Goes with its user.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('login_tokens')
    .addColumn('uid', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull())
    /** Epoch seconds; -1 = never. */
    .addColumn('expiration', 'integer', (c) => c.notNull())
    /** The group the token acts as; -1 = the user's own groups. */
    .addColumn('egid', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('login_tokens_pk', ['uid', 'token_hash'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('0007-login-tokens cannot be reverted');
}
