/**
 * `rsync` datastore (OpenNebula's DS_MAD name and attributes): the `local` on-disk format
 * (docs/FORMAT.md) in BASE_PATH on a backup server reached over SSH. RSYNC_HOST is the server,
 * RSYNC_USER the login (default: what the daemon user's OpenSSH configuration says, else the
 * daemon's own user name), SSH_PORT, SSH_KEY (a private key file on this machine) and
 * SSH_KNOWN_HOSTS override the daemon user's OpenSSH configuration.
 *
 * The transport is one SFTP session (`ssh -s ... sftp`) per open datastore, requests pipelined
 * (docs/DECISIONS.md has the measurements against a process per chunk); the driver is in
 * rsync-driver.ts.
 */
import { isAbsolute, posix } from 'node:path';
import { ErrorCode, OneError } from '../../core/errors.js';
import { parseSshTarget } from '../ssh.js';
import { type RsyncConfig, RsyncDatastore } from './rsync-driver.js';
import type { DatastoreAttributes, DatastoreDriverFactory } from './types.js';

export type { RsyncConfig };

export const rsyncDatastore = {
  name: 'rsync',
  requiredAttributes: ['RSYNC_HOST', 'BASE_PATH'],
  parseConfig(ds: DatastoreAttributes): RsyncConfig {
    const problems: string[] = [];
    const get = (a: string) => ds.attributes.get(a);
    if ((get('RSYNC_HOST') ?? '') === '')
      problems.push(
        'RSYNC_HOST is missing: give the backup server\'s host name or address (RSYNC_HOST = "backup1")',
      );
    const basePath = get('BASE_PATH') ?? '';
    if (basePath === '')
      problems.push('BASE_PATH is missing: give the directory on the backup server that holds the backups');
    else if (!isAbsolute(basePath) || /[\0\n]/.test(basePath))
      problems.push(`BASE_PATH="${basePath}" must be an absolute path on the backup server`);
    const target = parseSshTarget(get, { host: 'RSYNC_HOST', user: 'RSYNC_USER' }, (attribute, message) => {
      if (attribute !== 'RSYNC_HOST' || get('RSYNC_HOST')) problems.push(message);
    });
    if (problems.length > 0)
      throw new OneError(
        ErrorCode.ACTION,
        problems.map((p) => `datastore ${ds.id} (rsync): ${p}`).join('\n'),
      );
    const base = posix.normalize(basePath);
    return Object.freeze({ id: ds.id, target, basePath: base.length > 1 ? base.replace(/\/$/, '') : base });
  },
  redact: (config: RsyncConfig) => config,
  /** `ssh://host:port/path`: two datastores overlap when they name nested paths on one server. */
  location: async (config: RsyncConfig) =>
    `ssh://${config.target.host}:${config.target.port ?? 22}${config.basePath}`,
  open: (config: RsyncConfig) => RsyncDatastore.open(config),
} satisfies DatastoreDriverFactory<RsyncConfig>;
