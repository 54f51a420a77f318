/**
 * Operating onebackupd as a service (issue 5): `--version`, `--check-config` (OK and a bad file),
 * and conf/onebackupd.service passes `systemd-analyze verify` with its paths pointed at this build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cleanup, cliPath, REPO, tempDir } from '../support/daemon.js';

const onebackupd = (args: string[]) =>
  spawnSync(process.execPath, [cliPath('onebackupd'), ...args], { encoding: 'utf8', timeout: 20_000 });

describe('onebackupd as a service', () => {
  it('--version prints the package version', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string })
      .version;
    const r = onebackupd(['--version']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  });

  it('--check-config says OK with the effective settings, or lists every problem with exit 255', () => {
    const dir = tempDir();
    try {
      const good = join(dir, 'good.conf');
      writeFileSync(good, 'METRICS_LISTEN = "127.0.0.1:9925"\nMAX_BACKUPS = 3\n');
      const ok = onebackupd(['--config', good, '--check-config']);
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /good\.conf: OK/);
      const shown = JSON.parse(ok.stdout.slice(ok.stdout.indexOf('{'))) as {
        maxBackups: number;
        metricsListen: { address: string; port: number };
      };
      assert.equal(shown.maxBackups, 3);
      assert.deepEqual(shown.metricsListen, { address: '127.0.0.1', port: 9925 });
      const bad = join(dir, 'bad.conf');
      writeFileSync(bad, 'METRICS_LISTEN = "anywhere"\nLOG_FORMAT = "xml"\n');
      const r = onebackupd(['--config', bad, '--check-config']);
      assert.equal(r.status, 255);
      assert.match(r.stderr, /line 1, col 1 \(METRICS_LISTEN\)/);
      assert.match(r.stderr, /line 2, col 1 \(LOG_FORMAT\)/);
    } finally {
      cleanup(dir);
    }
  });

  it('conf/onebackupd.service passes systemd-analyze verify', (t) => {
    const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
    if (analyze.status !== 0) {
      t.skip('systemd-analyze is not installed (Debian package systemd)');
      return;
    }
    const dir = tempDir();
    try {
      const unit = readFileSync(join(REPO, 'conf', 'onebackupd.service'), 'utf8');
      assert.match(unit, /^ExecStart=\/usr\/bin\/onebackupd /m);
      assert.match(unit, /^ExecStartPre=.*--check-config$/m);
      for (const hardening of [
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'PrivateDevices=yes',
        'CapabilityBoundingSet=',
      ])
        assert.ok(unit.includes(`\n${hardening}\n`), hardening);
      const local = unit.replaceAll('/usr/bin/onebackupd', `${process.execPath} ${cliPath('onebackupd')}`);
      const file = join(dir, 'onebackupd.service');
      writeFileSync(file, local);
      const r = spawnSync(analyze.stdout.trim(), ['verify', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', r.stderr);
    } finally {
      cleanup(dir);
    }
  });
});
