/**
 * One daemon per state directory (issue 14, item 1), with real processes: a second onebackupd on
 * the same state directory is refused with the holder's PID before it touches the store; one that
 * a kill -9 left behind is taken over; a taken port is explained, not a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanup, cliPath, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';

/** Runs onebackupd to its exit (it is expected to refuse to start). */
function refusedStart(stateDir: string, listen: string): { code: number | null; stderr: string } {
  const conf = join(stateDir, 'refused.conf');
  writeFileSync(conf, 'TIMEZONE = "UTC"\n');
  const r = spawnSync(
    process.execPath,
    [cliPath('onebackupd'), '--config', conf, '--listen', listen, '--state-dir', stateDir],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return { code: r.status, stderr: r.stderr };
}

describe('one daemon per state directory', () => {
  const dirs: string[] = [];
  const daemons: RunningDaemon[] = [];
  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL');
    for (const dir of dirs) cleanup(dir);
  });

  it('refuses a second daemon on the same state directory, naming the holder', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = await startDaemon({ stateDir: dir });
    daemons.push(first);
    const r = refusedStart(dir, '127.0.0.1:0');
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      new RegExp(
        `state directory ${dir} is in use by onebackupd PID ${first.child.pid} .*stop that daemon first`,
      ),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    // The first daemon is untouched and still holds the lock.
    assert.equal(readFileSync(join(dir, 'onebackupd.pid'), 'utf8').trim(), String(first.child.pid));
    await first.stop();
    assert.ok(!existsSync(join(dir, 'onebackupd.pid')), 'a clean stop releases the lock');
  });

  it('takes over the lock a killed daemon left', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = await startDaemon({ stateDir: dir });
    await first.stop('SIGKILL');
    assert.ok(existsSync(join(dir, 'onebackupd.pid')), 'kill -9 leaves the file');
    const second = await startDaemon({ stateDir: dir });
    daemons.push(second);
    assert.equal(readFileSync(join(dir, 'onebackupd.pid'), 'utf8').trim(), String(second.child.pid));
  });

  it('explains a port that is taken instead of printing a stack trace', async () => {
    const dir = tempDir();
    const other = tempDir();
    dirs.push(dir, other);
    const first = await startDaemon({ stateDir: dir });
    daemons.push(first);
    const port = new URL(first.url).port;
    const r = refusedStart(other, `127.0.0.1:${port}`);
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      new RegExp(
        `cannot listen on 127.0.0.1:${port}: the address is in use .*choose another with --listen HOST:PORT`,
      ),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
