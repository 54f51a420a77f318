/**
 * QEMU's tools as the `fs` driver uses them: `qemu-img` (info, map; spawned from a worker thread,
 * see exec-thread.ts), the guest-to-host map of a plain qcow2 image, and a read-only `qemu-nbd`
 * export on a Unix socket.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { execFileOffThread } from './exec-thread.js';
import { NbdClient } from './nbd-client.js';
import { PermanentDriverError } from './types.js';

/** One run of a qcow2 image's guest content: at `host` in the image file, or zeros (null). */
export interface MappedRun {
  readonly start: number;
  readonly length: number;
  readonly host: number | null;
}

/** Starts qemu-nbd read-only on a Unix socket in the scratch directory and connects to it. */
export async function exportQcow2(
  image: string,
  socketPath: string,
): Promise<{ client: NbdClient; server: ChildProcess }> {
  const args = ['--read-only', '--persistent', '--shared=1', '-f', 'qcow2', '-k', socketPath, image];
  const server = spawn('qemu-nbd', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  server.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
  server.once('error', () => undefined);
  for (let i = 0; i < 500; i++) {
    if (existsSync(socketPath)) {
      try {
        return { client: await NbdClient.connect(socketPath), server };
      } catch {
        // the socket exists but is not listening yet
      }
    }
    const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r('wait'), 10))]);
    if (done !== 'wait') {
      throw new Error(`qemu-nbd could not export ${image}: ${stderr.trim() || `exit ${String(done)}`}`);
    }
  }
  server.kill('SIGKILL');
  throw new Error(`qemu-nbd did not start serving ${image} in 5 s`);
}

export async function qemuImg(args: readonly string[], signal?: AbortSignal): Promise<string> {
  try {
    const { stdout } = await execFileOffThread('qemu-img', args, {
      maxBuffer: 256 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new PermanentDriverError('qemu-img is not installed (Debian package qemu-utils)');
    throw new Error(`qemu-img ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

interface QemuMapEntry {
  readonly start: number;
  readonly length: number;
  readonly depth: number;
  readonly zero: boolean;
  readonly data: boolean;
  readonly offset?: number;
}

/**
 * The guest-to-host map of a qcow2 image that can be read without QEMU, or undefined when some
 * data is compressed, encrypted, in a backing file or in an external data file.
 */
export async function directMap(image: string): Promise<MappedRun[] | undefined> {
  const info = JSON.parse(await qemuImg(['info', '--output=json', '-f', 'qcow2', image])) as {
    'backing-filename'?: string;
    'format-specific'?: { data?: Record<string, unknown> };
  };
  const specific = info['format-specific']?.data ?? {};
  if (info['backing-filename'] !== undefined || 'data-file' in specific || 'encrypt' in specific)
    return undefined;
  const entries = JSON.parse(await qemuImg(['map', '--output=json', '-f', 'qcow2', image])) as QemuMapEntry[];
  const runs: MappedRun[] = [];
  for (const e of entries) {
    if (e.zero || !e.data) {
      runs.push({ start: e.start, length: e.length, host: null });
      continue;
    }
    if (e.depth !== 0 || typeof e.offset !== 'number') return undefined;
    runs.push({ start: e.start, length: e.length, host: e.offset });
  }
  return runs;
}
