/**
 * A real OpenSSH server for tests (Debian's openssh-server): its own host key, an authorized_keys
 * holding a client key made for the test, and a known_hosts the test writes with the server's
 * key, listening on a loopback address and a free port. It logs in as the user running the tests.
 * stop() kills it (SIGKILL: what a crashed backup server does); start() runs it again on the same
 * address, port and keys.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The client's private key (SSH_KEY). */
  readonly clientKey: string;
  /** A known_hosts file holding this server's host key (SSH_KNOWN_HOSTS). */
  readonly knownHosts: string;
  /** The server's host public key line (`ssh-ed25519 AAAA...`). */
  readonly hostPublicKey: string;
  readonly dir: string;
  /** What sshd wrote to its log so far. */
  log(): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
  /** The datastore attributes that reach this server. */
  attributes(basePath: string): string;
  /** A host template whose NAME is this server's address, reached through it. */
  hostTemplate(vmMad: string): string;
}

export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Every process below `pid` (from /proc), parents before their children. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'onebackup-test', '-f', path]);
}

/** Starts sshd on `host` (a loopback address) under `dir`, which must exist. */
export async function startSshd(dir: string, host = '127.0.0.1'): Promise<TestSshd> {
  const d = join(dir, 'sshd');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  const hostKey = join(d, 'host_ed25519');
  const clientKey = join(d, 'client_ed25519');
  keygen(hostKey);
  keygen(clientKey);
  const authorized = join(d, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  const port = await freePort(host);
  const hostPublicKey = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const knownHosts = join(d, 'known_hosts');
  writeFileSync(knownHosts, `[${host}]:${port} ${hostPublicKey}\n`);
  const config = join(d, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${host}:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(d, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      // Debian's own sshd_config line.
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      'MaxSessions 64',
      'MaxStartups 64:30:128',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const logFile = join(d, 'sshd.log');
  writeFileSync(logFile, '');
  let child: ChildProcess | undefined;
  const user = userInfo().username;

  const start = async () => {
    // sshd needs its privilege-separation directory (the package makes it only at boot).
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const c = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let own = '';
    c.stderr?.on('data', (b: Buffer) => {
      own += b.toString();
      writeFileSync(logFile, b, { flag: 'a' });
    });
    child = c;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (c.exitCode !== null)
        throw new Error(`sshd exited with ${c.exitCode}:\n${readFileSync(logFile, 'utf8')}`);
      if (own.includes(`Server listening on ${host} port ${port}`)) return;
      if (Date.now() > deadline)
        throw new Error(`sshd did not listen in 10 s:\n${readFileSync(logFile, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    // The listener and every session process it forked, by their process IDs.
    for (const pid of [...descendants(c.pid ?? 0)].reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    host,
    port,
    user,
    clientKey,
    knownHosts,
    hostPublicKey,
    dir: d,
    log: () => readFileSync(logFile, 'utf8'),
    start,
    stop,
    running: () => child !== undefined,
    attributes: (basePath: string) =>
      [
        'DS_MAD = "rsync"',
        `RSYNC_HOST = "${host}"`,
        `RSYNC_USER = "${user}"`,
        `SSH_PORT = "${port}"`,
        `SSH_KEY = "${clientKey}"`,
        `SSH_KNOWN_HOSTS = "${knownHosts}"`,
        `BASE_PATH = "${basePath}"`,
      ].join('\n'),
    hostTemplate: (vmMad: string) =>
      [
        `NAME = "${host}"`,
        `VM_MAD = "${vmMad}"`,
        `SSH_USER = "${user}"`,
        `SSH_PORT = "${port}"`,
        `SSH_KEY = "${clientKey}"`,
        `SSH_KNOWN_HOSTS = "${knownHosts}"`,
        '',
      ].join('\n'),
  };
}
