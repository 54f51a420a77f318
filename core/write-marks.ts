/**
 * WriteMarks kept as empty files in the state directory (`unfinished-writes/<datastore id>`),
 * like the state lock beside them: a file exists while backups write to that datastore, so one
 * left by a daemon that died names the datastores where a killed backup may have left chunks no
 * manifest names. The next start collects them (a GC) before backups write there again.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Datastores with backups writing to them, as the previous run of the daemon left them. */
export interface WriteMarks {
  /** A backup writes to the datastore (recorded before its first chunk). */
  mark(datastoreId: number): void;
  /** Nothing a backup wrote there is left unreferenced. */
  clear(datastoreId: number): void;
  /** The datastores still marked (at start: by a daemon that died while backups wrote). */
  marked(): number[];
}

export function writeMarksIn(stateDir: string): WriteMarks {
  const dir = join(stateDir, 'unfinished-writes');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const marked = new Set<number>(
    readdirSync(dir)
      .filter((n) => /^\d+$/.test(n))
      .map(Number),
  );
  return {
    mark(id) {
      if (marked.has(id)) return;
      writeFileSync(join(dir, String(id)), '');
      marked.add(id);
    },
    clear(id) {
      if (!marked.delete(id)) return;
      rmSync(join(dir, String(id)), { force: true });
    },
    marked: () => [...marked],
  };
}
