/** Opens the state database the configuration names: SQLite (the default) or PostgreSQL. */
import { openSqliteStore, type Store } from './db.js';
import { openPostgresStore, type PostgresOptions } from './postgres.js';

export type StoreConfig =
  | { readonly backend: 'sqlite'; readonly path: string }
  | ({ readonly backend: 'postgresql' } & PostgresOptions);

/**
 * `role` (PostgreSQL; on SQLite the state directory's PID file does it): "daemon" joins the
 * daemons sharing the database; "exclusive" needs none running (refused with a holder's name).
 */
export function openStore(
  config: StoreConfig,
  options: { role?: 'daemon' | 'exclusive' } = {},
): Promise<Store> {
  return config.backend === 'postgresql' ? openPostgresStore(config, options) : openSqliteStore(config.path);
}
