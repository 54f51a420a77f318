/**
 * FS_FREEZE around the instant a point in time is taken: AGENT (the guest agent's fsfreeze) or
 * SUSPEND (vCPUs paused). The freeze covers only `take` and is always undone, also when `take`
 * fails; a marker file in the scratch directory names a freeze in progress, so that after a
 * crash `thawLeftover` (run by recovery, before the scratch directory is cleared) undoes it.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FsFreeze } from '../../core/model.js';
import type { Consistency, PrepareOptions } from './types.js';

/** How one VM is frozen and thawed (QMP and guest agent sockets, or libvirt). */
export interface Freezer {
  freeze(kind: Exclude<FsFreeze, 'NONE'>): Promise<void>;
  thaw(kind: Exclude<FsFreeze, 'NONE'>): Promise<void>;
}

function markerPath(scratchDir: string, vmId: number): string {
  return join(scratchDir, `frozen-vm${vmId}.json`);
}

/** Freezes (per options.freeze), runs `take`, thaws; says what consistency the instant has. */
export async function withFreeze(
  freezer: Freezer,
  options: PrepareOptions,
  vmId: number,
  take: () => Promise<void>,
): Promise<Consistency> {
  const kind = options.freeze;
  if (kind === 'NONE') {
    await take();
    return { level: 'crash', frozenMs: 0, warnings: [] };
  }
  const marker = markerPath(options.scratchDir, vmId);
  await writeFile(marker, JSON.stringify({ kind }));
  const warnings: string[] = [];
  let frozen = false;
  const started = performance.now();
  try {
    try {
      await freezer.freeze(kind);
      frozen = true;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (options.onFreezeFailure === 'FAIL')
        throw new Error(
          `VM ${vmId}: FS_FREEZE=${kind} failed (${why}); FS_FREEZE_FAILURE=FAIL stops the backup`,
        );
      warnings.push(`FS_FREEZE=${kind} failed (${why}); the backup is crash-consistent`);
    }
    await take();
  } finally {
    if (frozen) await freezer.thaw(kind);
    await rm(marker, { force: true });
  }
  const frozenMs = frozen ? Math.round(performance.now() - started) : 0;
  return { level: frozen ? 'filesystem' : 'crash', frozenMs, warnings };
}

/** Undoes a freeze a crash left (its marker is in the scratch directory); true when it did. */
export async function thawLeftover(freezer: Freezer, scratchDir: string, vmId: number): Promise<boolean> {
  const marker = markerPath(scratchDir, vmId);
  let kind: string;
  try {
    kind = (JSON.parse(await readFile(marker, 'utf8')) as { kind?: string }).kind ?? '';
  } catch {
    return false;
  }
  if (kind === 'AGENT' || kind === 'SUSPEND') await freezer.thaw(kind);
  await rm(marker, { force: true });
  return true;
}
