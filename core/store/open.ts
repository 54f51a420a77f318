/** Opens the state database the configuration names: SQLite (the default) or PostgreSQL. */
import { openSqliteStore, type Store } from './db.js';
import { openPostgresStore, type PostgresOptions } from './postgres.js';

export type StoreConfig =
  | { readonly backend: 'sqlite'; readonly path: string }
  | ({ readonly backend: 'postgresql' } & PostgresOptions);

/**
 * `exclusive`: the caller is the one onebackupd on this database (PostgreSQL: a session advisory
 * lock, refused with the holder's name; SQLite: the state directory's PID file does it).
 */
export function openStore(config: StoreConfig, options: { exclusive?: boolean } = {}): Promise<Store> {
  return config.backend === 'postgresql' ? openPostgresStore(config, options) : openSqliteStore(config.path);
}
