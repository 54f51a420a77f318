/**
 * Test helpers that run the real programs: onebackupd as a child process on a real SQLite
 * file in a temporary state directory (with ONEBACKUP_TEST_DB=postgresql, a database of the run's
 * PostgreSQL cluster), and the real CLI binaries with execFile.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testDbBlock } from './postgres.js';

/** dist/ — compiled tests live in dist/test/support, the programs in dist/cli. */
export const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO = join(DIST, '..');

export function cliPath(name: string): string {
  return join(DIST, 'cli', `${name}.js`);
}

export interface RunningDaemon {
  readonly url: string;
  readonly stateDir: string;
  readonly authFile: string;
  readonly child: ChildProcess;
  /** What the daemon wrote to stderr so far (logs). */
  readonly logs: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(prefix = 'onebackup-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startDaemon(
  options: { stateDir?: string; conf?: string; extraArgs?: string[] } = {},
): Promise<RunningDaemon> {
  const stateDir = options.stateDir ?? tempDir();
  const confFile = join(stateDir, 'test-onebackupd.conf');
  const conf = options.conf ?? 'LOG_LEVEL = "debug"\nTIMEZONE = "UTC"\n';
  // With ONEBACKUP_TEST_DB=postgresql, a daemon whose conf names no DB gets a PostgreSQL database.
  writeFileSync(confFile, /^DB\s*=/m.test(conf) ? conf : `${conf}\n${await testDbBlock(stateDir)}`);
  const child = spawn(
    process.execPath,
    [
      cliPath('onebackupd'),
      '--config',
      confFile,
      '--listen',
      '127.0.0.1:0',
      '--state-dir',
      stateDir,
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ONEBACKUP_STATE_DIR: stateDir } },
  );
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a daemon behind: the caller gets no handle to stop it.
      child.kill('SIGKILL');
      reject(new Error(`daemon did not start in 20 s; stderr:\n${stderr}`));
    }, 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on (\S+)/.exec(stdout);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
  let stopping = false;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else
      child.once('exit', (code, signal) => {
        // A daemon that dies on its own: its last words, for the failure that follows.
        if (!stopping)
          process.stderr.write(
            `onebackupd ${child.pid} (${stateDir}) exited by itself (${code ?? signal}); its stderr ends:\n${stderr.slice(-4000)}\n`,
          );
        resolve(code);
      });
  });
  return {
    url,
    stateDir,
    authFile: join(stateDir, 'one_auth'),
    child,
    logs: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a CLI against a daemon, as oneadmin unless env says otherwise. */
export function runCli(
  name: string,
  args: readonly string[],
  daemon: RunningDaemon,
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cliPath(name), ...args],
      {
        env: {
          PATH: process.env['PATH'],
          HOME: daemon.stateDir,
          TZ: 'UTC',
          ONE_XMLRPC: daemon.url,
          ONE_AUTH: daemon.authFile,
          ONEBACKUP_STATE_DIR: daemon.stateDir,
          ...options.env,
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export function oneadminSession(daemon: RunningDaemon): string {
  return readFileSync(daemon.authFile, 'utf8').trim();
}

/** A `bin` directory under `root` with shell wrappers running the named CLIs from dist/, for PATH. */
export function cliBin(root: string, names: readonly string[]): string {
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const name of names) {
    const path = join(bin, name);
    writeFileSync(path, `#!/bin/sh\nexec "${process.execPath}" "${cliPath(name)}" "$@"\n`);
    chmodSync(path, 0o755);
  }
  return bin;
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
