/**
 * The host agent's entry point, bundled into one file (scripts/bundle-agent.mjs) that the daemon
 * sends to a host over SSH and runs with the host's `node` (agent-connection.ts). Serves the
 * host's hypervisor drivers on stdin/stdout; anything a driver prints goes to stderr, since stdout
 * carries the protocol. Worker threads started from the bundle (drivers/exec-thread.ts) load the
 * same file and do not serve.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { VERSION } from '../../core/version.js';
import { HYPERVISOR_DRIVERS } from '../hypervisor/registry.js';
import { serveAgent } from './agent.js';

if (isMainThread) {
  console.log = console.error;
  console.info = console.error;
  const digest = createHash('sha256')
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 12);
  serveAgent(process.stdin, process.stdout, {
    drivers: HYPERVISOR_DRIVERS,
    version: `${VERSION.onebackup}+${digest}`,
  }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
