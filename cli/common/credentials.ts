/**
 * Where the CLIs find the endpoint and the credentials, in OpenNebula's order:
 * --endpoint, $ONE_XMLRPC, then http://localhost:2633/RPC2; --user/--password, then the file
 * named by $ONE_AUTH, ~/.one/one_auth, and last the daemon's own <state dir>/one_auth.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ENDPOINT, defaultStateDir } from '../../core/paths.js';
import { CliError } from '../cli-error.js';

interface ConnectionOptions {
  readonly endpoint?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
}

export interface Connection {
  readonly endpoint: string;
  readonly session: string;
}

export function resolveConnection(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): Connection {
  const endpoint = opts.endpoint ?? env['ONE_XMLRPC'] ?? DEFAULT_ENDPOINT;
  if (opts.user === undefined && opts.password !== undefined)
    throw new CliError('--password needs --user as well (whose password is it?)');
  if (opts.user !== undefined) {
    if (opts.password === undefined) throw new CliError('--user needs --password as well');
    return { endpoint, session: `${opts.user}:${opts.password}` };
  }
  const candidates = [
    env['ONE_AUTH'],
    join(homedir(), '.one', 'one_auth'),
    join(defaultStateDir(env), 'one_auth'),
  ].filter((p): p is string => typeof p === 'string' && p !== '');
  for (const file of candidates) {
    if (!existsSync(file)) {
      if (file === env['ONE_AUTH']) throw new CliError(`ONE_AUTH names ${file}, which does not exist`);
      continue;
    }
    const line = readFileSync(file, 'utf8').split('\n')[0]?.trim() ?? '';
    if (!line.includes(':')) throw new CliError(`${file} must hold one line "user:password"`);
    return { endpoint, session: line };
  }
  throw new CliError(
    `no credentials: pass --user and --password, set ONE_AUTH to a file holding "user:password", ` +
      `or create ~/.one/one_auth (onebackupd writes oneadmin's to ${join(defaultStateDir(env), 'one_auth')})`,
  );
}
