/**
 * One daemon per state directory: `<state dir>/onebackupd.pid` holds the running daemon's PID,
 * created exclusively (O_EXCL) at start and removed at stop, as PostgreSQL's postmaster.pid.
 * A file left by a daemon that died (its PID no longer runs) is taken over; a live holder is
 * refused with its PID, before the store is opened, so two daemons never requeue and run each
 * other's backups. An I/O edge of the composition root, like core/store/db.ts.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, OneError } from './errors.js';

export interface StateLock {
  release(): void;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockStateDir(stateDir: string): StateLock {
  const path = join(stateDir, 'onebackupd.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && running(holder)) {
        throw new OneError(
          ErrorCode.ACTION,
          `state directory ${stateDir} is in use by onebackupd PID ${holder} (${path}); ` +
            'stop that daemon first, or start this one with another --state-dir',
        );
      }
      // Left by a daemon that is gone: take it over.
      unlinkSync(path);
    }
  }
  throw new OneError(ErrorCode.ACTION, `cannot lock state directory ${stateDir}: ${path} keeps reappearing`);
}
