import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where onebackupd keeps its state when nothing says otherwise: $ONEBACKUP_STATE_DIR, else
 * ~/.onebackup. The CLIs look for `<this>/one_auth` too, so both agree with no configuration.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['ONEBACKUP_STATE_DIR'] || join(homedir(), '.onebackup');
}

export const DEFAULT_PORT = 2633;
export const DEFAULT_ENDPOINT = `http://localhost:${DEFAULT_PORT}/RPC2`;
