/**
 * The runs document of a job (`one.backupjob.runs`, our extension): each run with its tasks, the
 * progress, speed and estimated time left of running tasks, and why queued VMs wait. Times are
 * epoch seconds, as in OpenNebula's documents; speed in bytes per second, ETR in seconds.
 */
import type { JobRuns } from '../services/backupjobs.js';
import type { RunTaskTable } from '../store/schema.js';
import { el, render, type XmlNode } from '../xml/build.js';
import { num } from './common.js';

const seconds = (ms: number) => Math.floor(ms / 1000);

/** Bytes per second and seconds left of a task at nowMs; 0 when unknown. */
export function taskRate(t: RunTaskTable, nowMs: number): { speed: number; etr: number; progress: number } {
  const until = t.end_ms > 0 ? t.end_ms : nowMs;
  const elapsed = t.start_ms > 0 ? (until - t.start_ms) / 1000 : 0;
  const speed = elapsed > 0 ? Math.round(t.bytes_done / elapsed) : 0;
  const left = Math.max(0, t.bytes_total - t.bytes_done);
  const etr = t.status === 'executing' && speed > 0 ? Math.ceil(left / speed) : 0;
  const progress =
    t.status === 'done' ? 100 : t.bytes_total > 0 ? Math.floor((100 * t.bytes_done) / t.bytes_total) : 0;
  return { speed, etr, progress };
}

function taskEl(
  t: RunTaskTable,
  paused: boolean,
  nowMs: number,
  wait: { rank: number; reason: string } | undefined,
  hostName: string | undefined,
): XmlNode {
  const rate = taskRate(t, nowMs);
  const status = t.status === 'queued' && paused ? 'onhold' : t.status;
  return el(
    'TASK',
    num('VM_ID', t.vm_id),
    num('HOST', t.host_id),
    el('STATUS', status),
    num('ATTEMPT', t.attempt),
    num('START', seconds(t.start_ms)),
    num('END', seconds(t.end_ms)),
    num('BYTES', t.bytes_done),
    num('BYTES_TOTAL', t.bytes_total),
    num('PROGRESS', rate.progress),
    num('SPEED', rate.speed),
    num('ETR', rate.etr),
    num('SEQ', t.seq),
    el('ERROR', t.error),
    ...(wait && t.status === 'queued' ? [num('RANK', wait.rank), el('REASON', wait.reason)] : []),
    el('HOSTNAME', hostName ?? ''),
    // The daemon that ran the last attempt (`onebackupd PID on HOST`), when several share the store.
    el('DAEMON', t.daemon),
  );
}

export function runsXml(jobId: number, r: JobRuns, nowMs: number): string {
  const waiting = new Map(r.waiting.map((w) => [w.vmId, w]));
  return render(
    el(
      'BACKUPJOB_RUNS',
      num('JOB_ID', jobId),
      num('PAUSED', r.paused ? 1 : 0),
      ...r.runs.map(({ run, tasks }) =>
        el(
          'RUN',
          num('ID', run.run_id),
          el('TRIGGER', run.trigger),
          num('START', seconds(run.start_ms)),
          num('END', seconds(run.end_ms)),
          el('RESULT', run.result),
          el(
            'TASKS',
            ...tasks.map((t) =>
              taskEl(
                t,
                r.paused,
                nowMs,
                run.end_ms === 0 ? waiting.get(t.vm_id) : undefined,
                r.hostNames.get(t.host_id),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
