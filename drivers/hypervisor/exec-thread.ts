/** Moved to drivers/exec-thread.ts (datastore drivers spawn through it too); kept for the hypervisor drivers' imports. */
export { type ExecError, execFileOffThread } from '../exec-thread.js';
