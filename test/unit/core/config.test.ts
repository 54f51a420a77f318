import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../core/config.js';
import { REPO } from '../../support/daemon.js';

describe('onebackupd.conf', () => {
  it('the shipped file is all defaults, and every option it documents is known', () => {
    const text = readFileSync(join(REPO, 'conf', 'onebackupd.conf'), 'utf8');
    const c = loadConfig(text, 'onebackupd.conf', {}, { ONEBACKUP_STATE_DIR: '/srv/ob' });
    assert.equal(c.port, 2633);
    assert.equal(c.listenAddress, '127.0.0.1');
    assert.equal(c.stateDir, '/srv/ob');
    assert.deepEqual(c.db, { backend: 'sqlite', path: '/srv/ob/onebackup.db' });
    assert.equal(c.maxBackups, 5);
    assert.equal(c.maxBackupsHost, 2);
    // Uncommenting every option gives a valid file too.
    const uncommented = text.replace(/^#([A-Z_]+ *=)/gm, '$1');
    const all = loadConfig(uncommented, 'onebackupd.conf');
    assert.equal(all.stateDir, '/var/lib/onebackup');
    assert.equal(all.timeZone, 'Europe/Madrid');
  });

  it('flags override the file', () => {
    const c = loadConfig('PORT = 1234\nSTATE_DIR = "/a"\n', 'x.conf', {
      listen: '0.0.0.0:0',
      stateDir: '/b',
    });
    assert.deepEqual([c.listenAddress, c.port, c.stateDir], ['0.0.0.0', 0, '/b']);
  });

  it('reports every bad option with its line', () => {
    assert.throws(
      () => loadConfig('MAX_BACKUPS = "five"\nTIMEZONE = "Mars/Olympus"\nBOGUS = 1\n', 'x.conf'),
      (err: Error) => {
        assert.equal(
          err.message,
          'x.conf line 1, col 1 (MAX_BACKUPS): MAX_BACKUPS = "five" is not a whole number in 0-10000\n' +
            'x.conf line 2, col 1 (TIMEZONE): TIMEZONE = "Mars/Olympus" is not an IANA time zone (e.g. "Europe/Madrid", "UTC")\n' +
            'x.conf line 3, col 1 (BOGUS): unknown option BOGUS; known: LISTEN_ADDRESS, PORT, STATE_DIR, DB, TIMEZONE, LOG_LEVEL, LOG_FORMAT, MAX_BACKUPS, MAX_BACKUPS_HOST, MAX_RESTORES, MAX_MAINTENANCE, WORKERS, MAX_REQUEST_BYTES, SHUTDOWN_GRACE, METRICS_LISTEN, MONITORING_INTERVAL_HOST, MONITORING_INTERVAL_DATASTORE, DATASTORE_TIMEOUT',
        );
        return true;
      },
    );
  });
});

describe('METRICS_LISTEN', () => {
  it('is off by default, HOST:PORT when set, and explained when wrong', () => {
    assert.equal(loadConfig('', 'x.conf').metricsListen, undefined);
    assert.equal(loadConfig('METRICS_LISTEN = ""\n', 'x.conf').metricsListen, undefined);
    assert.deepEqual(loadConfig('METRICS_LISTEN = "127.0.0.1:9925"\n', 'x.conf').metricsListen, {
      address: '127.0.0.1',
      port: 9925,
    });
    assert.deepEqual(loadConfig('METRICS_LISTEN = "[::1]:0"\n', 'x.conf').metricsListen, {
      address: '::1',
      port: 0,
    });
    assert.throws(
      () => loadConfig('METRICS_LISTEN = "9925"\n', 'x.conf'),
      /METRICS_LISTEN = "9925" is not HOST:PORT \(e\.g\. "127\.0\.0\.1:9925"\)/,
    );
  });
});
