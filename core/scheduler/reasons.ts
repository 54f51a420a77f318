/**
 * The texts that say why an OUTDATED VM waits. Users read them in `onebackupjob show` and scripts
 * may match them through the API, so they are built in one place and tested verbatim.
 *
 * In the order explainWaiting checks them (the first that applies is reported):
 * - `paused`: the job is paused (`onebackupjob pause`).
 * - `excluded`: the VM is excluded from the current run (`onebackupjob exclude`).
 * - `retry at 2026-01-05T09:00:00Z`: a failed VM waits RETRY_INTERVAL before its next attempt.
 * - `VM 7 has a backup in progress`: the VM itself is already backing up (for instance a
 *   `onevm backup` by hand); one VM never runs two backups at once.
 * - `priority: job 4 (80) first` (strict policy only, here): job 4 is the highest-ranked job of
 *   higher priority that still has OUTDATED VMs.
 * - `SEQUENTIAL: waiting for VM 12`: the job runs one VM at a time and VM 12 is busy (ONGOING,
 *   running for the job, or started in this pick); the first such VM in BACKUP_VMS order.
 * - `host node1 2/2`: the VM's host has MAX_BACKUPS_HOST backups running (counting this pick's).
 *   Reported as `priority: job 4 (80) first` instead when this pick started a VM of a job of
 *   higher priority on that host: job 4 is the first such job.
 * - `global slots 5/5`: MAX_BACKUPS backups are running (counting this pick's); likewise
 *   reported as `priority: job 4 (80) first` when this pick started a VM of a job of higher
 *   priority anywhere. Once those VMs run, the next explanation gives the limit itself.
 */

export const PAUSED = 'paused';
export const EXCLUDED = 'excluded';

/** `at` in epoch seconds, printed as ISO-8601 UTC without milliseconds. */
export function retryAt(at: number): string {
  return `retry at ${new Date(at * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

export function vmBusy(vmId: number): string {
  return `VM ${vmId} has a backup in progress`;
}

export function priorityFirst(jobId: number, priority: number): string {
  return `priority: job ${jobId} (${priority}) first`;
}

export function sequentialWaiting(vmId: number): string {
  return `SEQUENTIAL: waiting for VM ${vmId}`;
}

export function hostFull(hostName: string, used: number, limit: number): string {
  return `host ${hostName} ${used}/${limit}`;
}

export function globalFull(used: number, limit: number): string {
  return `global slots ${used}/${limit}`;
}
