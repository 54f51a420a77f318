/** The daemon's JSON log (LOG_FORMAT = "json") replayed by the e2e tests that check limits. */

/** Replays the daemon's "backup started"/"backup done|failed" events: the most running at once. */
export function backupConcurrency(logs: string, hostOf: Map<number, number>) {
  let global = 0;
  let maxGlobal = 0;
  const perHost = new Map<number, number>();
  let maxHost = 0;
  const perJob = new Map<number, number>();
  const maxJob = new Map<number, number>();
  const starts: number[] = [];
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { msg: string; vm?: number; job?: number };
    if (e.vm === undefined || e.job === undefined) continue;
    const host = hostOf.get(e.vm) ?? -1;
    const delta =
      e.msg === 'backup started'
        ? 1
        : ['backup done', 'backup failed', 'backup failed, will retry', 'backup stopped'].includes(e.msg)
          ? -1
          : 0;
    if (delta === 0) continue;
    if (delta === 1) starts.push(e.vm);
    global += delta;
    perHost.set(host, (perHost.get(host) ?? 0) + delta);
    perJob.set(e.job, (perJob.get(e.job) ?? 0) + delta);
    maxGlobal = Math.max(maxGlobal, global);
    maxHost = Math.max(maxHost, perHost.get(host) ?? 0);
    maxJob.set(e.job, Math.max(maxJob.get(e.job) ?? 0, perJob.get(e.job) ?? 0));
  }
  return { maxGlobal, maxHost, maxJob, starts };
}
