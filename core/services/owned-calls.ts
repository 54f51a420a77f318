import type { OwnedCalls } from '../api/methods.js';
import { epochSeconds } from '../clock.js';
import type { ServiceDeps } from './context.js';
import {
  chmodObject,
  chownObject,
  lockObject,
  type OwnedTable,
  renameObject,
  unlockObject,
} from './objects.js';

/** chmod, chown, rename, lock and unlock for every owned object kind, each one transaction. */
export function ownedCalls(deps: ServiceDeps): OwnedCalls {
  return {
    chmod: (who, table, id, args) => deps.store.tx((trx) => chmodObject(trx, who, table, id, args)),
    chown: (who, table, id, uid, gid) => deps.store.tx((trx) => chownObject(trx, who, table, id, uid, gid)),
    lock: (who, table, id, level, test) =>
      deps.store.tx((trx) => lockObject(trx, who, table, id, level, test, epochSeconds(deps.clock))),
    unlock: (who, table, id) => deps.store.tx((trx) => unlockObject(trx, who, table, id)),
    rename: (who, table: OwnedTable, id, name) =>
      deps.store.tx((trx) =>
        renameObject(trx, who, table, id, name, async (t, row, newName) => {
          // Backup job and VM names are unique per owner; host and datastore names everywhere.
          let q = t
            .selectFrom(table as 'hosts')
            .select('id')
            .where('name', '=', newName)
            .where('id', '!=', row.id);
          if (table === 'backup_jobs' || table === 'vms' || table === 'images')
            q = q.where('uid', '=', row.uid);
          return (await q.executeTakeFirst())?.id;
        }),
      ),
  };
}
