/**
 * OpenSSH's client (`ssh` from Debian's openssh-client) as drivers use it: the attributes that
 * name a remote machine (host, SSH_PORT, user, SSH_KEY, SSH_KNOWN_HOSTS) checked once, the
 * command line that reaches it without ever prompting or accepting an unknown host key, and its
 * failures turned into errors that name the machine and the fix.
 *
 * Nothing here builds a remote shell command: callers run a subsystem (`sftp`) and pass every
 * name and path as data. The daemon user's own OpenSSH configuration (~/.ssh/config, keys,
 * known_hosts) applies; the attributes override it.
 */

/** How to reach a remote machine, as checked by parseSshTarget. */
export interface SshTarget {
  readonly host: string;
  readonly port: number | undefined;
  readonly user: string | undefined;
  /** A private key file on the daemon's machine (never the key itself). */
  readonly key: string | undefined;
  /** A known_hosts file to check the host key against, instead of the user's own. */
  readonly knownHosts: string | undefined;
}

const HOST = /^[A-Za-z0-9_][A-Za-z0-9._-]*$|^\[?[0-9A-Fa-f:.]+\]?$/;
const USER = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;
/** ssh expands `%` tokens and splits -o values on blanks and quotes: such paths are refused. */
const SAFE_PATH = /^\/[^\s%"'\\]*$/;

/**
 * Reads the SSH attributes; `problem(attribute, message)` receives each bad one (the caller
 * throws). A value that looks like a key is never repeated in a message.
 */
export function parseSshTarget(
  get: (attribute: string) => string | undefined,
  names: { readonly host: string; readonly user: string },
  problem: (attribute: string, message: string) => void,
): SshTarget {
  const host = get(names.host) ?? '';
  if (!HOST.test(host))
    problem(
      names.host,
      `${names.host}="${host}" is not a host name or address (letters, digits, '.', '-', '_'; an IPv6 address)`,
    );
  const user = get(names.user);
  if (user !== undefined && !USER.test(user))
    problem(names.user, `${names.user}="${user}" is not a user name`);
  const portText = get('SSH_PORT');
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
    problem('SSH_PORT', `SSH_PORT="${portText}" is not a TCP port (1-65535)`);
  const key = get('SSH_KEY');
  if (key !== undefined && /PRIVATE KEY|[\n\r]/.test(key))
    problem(
      'SSH_KEY',
      'SSH_KEY holds key material: it must be the path of a private key file on onebackupd\'s machine (e.g. "/var/lib/onebackup/.ssh/id_ed25519"), never the key itself',
    );
  else if (key !== undefined && !SAFE_PATH.test(key))
    problem(
      'SSH_KEY',
      `SSH_KEY="${key}" must be an absolute path of a private key file, without blanks, quotes or '%'`,
    );
  const knownHosts = get('SSH_KNOWN_HOSTS');
  if (knownHosts !== undefined && !SAFE_PATH.test(knownHosts))
    problem(
      'SSH_KNOWN_HOSTS',
      `SSH_KNOWN_HOSTS="${knownHosts}" must be an absolute path of a known_hosts file, without blanks, quotes or '%'`,
    );
  for (const secret of ['SSH_PASSWORD', `${names.user.replace(/_USER$/, '')}_PASSWORD`, 'PASSWORD'])
    if (get(secret) !== undefined)
      problem(
        secret,
        `${secret}: passwords are not accepted (they would sit in the template); use a key: SSH_KEY`,
      );
  return Object.freeze({ host: host.replace(/^\[|\]$/g, ''), port, user, key, knownHosts });
}

/** `host`, or `[host]:port` as known_hosts writes a non-default port. */
export function knownHostsName(t: SshTarget): string {
  return t.port === undefined || t.port === 22 ? t.host : `[${t.host}]:${t.port}`;
}

/** `user@host port N`, for messages. */
export function describeTarget(t: SshTarget): string {
  return `${t.user ? `${t.user}@` : ''}${t.host}${t.port ? ` port ${t.port}` : ''}`;
}

/**
 * The options of every connection: never a prompt (BatchMode), never an unknown or changed host
 * key accepted (StrictHostKeyChecking=yes, known_hosts never updated), no forwarding of agents,
 * X11 or ports, no shared master connection from the user's configuration (each caller keeps its
 * own connection), and a dead peer noticed within 30 s.
 */
function sshOptions(t: SshTarget): string[] {
  const args = [
    '-T',
    '-x',
    '-a',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'ClearAllForwardings=yes',
    '-o',
    'ControlPath=none',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=10',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'Compression=no',
    // AES-GCM first (AES-NI makes it several times faster than chacha20 here, see
    // docs/DECISIONS.md); the rest of the default list, and the user's configuration, still apply.
    '-o',
    'Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com',
  ];
  if (t.port !== undefined) args.push('-p', String(t.port));
  if (t.user !== undefined) args.push('-l', t.user);
  if (t.key !== undefined) args.push('-i', t.key, '-o', 'IdentitiesOnly=yes');
  if (t.knownHosts !== undefined) args.push('-o', `UserKnownHostsFile=${t.knownHosts}`);
  return args;
}

/** The arguments of `ssh` that run `subsystem` (e.g. sftp) on the target. */
export function sshSubsystemArgs(t: SshTarget, subsystem: string): string[] {
  return [...sshOptions(t), '-s', '--', t.host, subsystem];
}

/**
 * The arguments of `ssh` that run a fixed command on the target. The remote shell parses
 * `command`: callers build it from constants only, never from names or paths a user gave.
 */
export function sshCommandArgs(t: SshTarget, command: string): string[] {
  return [...sshOptions(t), '--', t.host, command];
}

/** Why a connection failed, for the caller's classification. */
export type SshFailure = 'host-key-changed' | 'host-key-unknown' | 'auth' | 'unreachable' | 'lost';

export class SshError extends Error {
  override name = 'SshError';
  constructor(
    message: string,
    readonly failure: SshFailure,
  ) {
    super(message);
  }
  /** Host keys and logins are fixed by an operator; a machine that is down comes back. */
  get permanent(): boolean {
    return (
      this.failure === 'host-key-changed' || this.failure === 'host-key-unknown' || this.failure === 'auth'
    );
  }
}

/** The ssh client's stderr (and exit) turned into an error naming the machine and the fix. */
export function explainSshFailure(t: SshTarget, stderr: string, what: string): SshError {
  const name = knownHostsName(t);
  const file = t.knownHosts ?? '~/.ssh/known_hosts of the user running onebackupd';
  const scan = `ssh-keyscan${t.port ? ` -p ${t.port}` : ''} ${t.host}`;
  const detail = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(
      (l) =>
        l !== '' &&
        !l.startsWith('@') &&
        !/^(IT IS POSSIBLE|Someone could|It is also|Please contact|Add correct|Offending|Password authentication|Keyboard-interactive)/.test(
          l,
        ),
    )
    .slice(-3)
    .join('; ');
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/.test(stderr))
    return new SshError(
      `${what}: the host key of ${describeTarget(t)} does not match the one recorded for ${name} in ${file}: refused (it may be another machine). If the server's key changed on purpose, check its fingerprint (${scan} | ssh-keygen -lf -), remove the old key (ssh-keygen -R '${name}'${t.knownHosts ? ` -f ${t.knownHosts}` : ''}) and add the new one`,
      'host-key-changed',
    );
  if (/host key is known for|Host key verification failed/.test(stderr))
    return new SshError(
      `${what}: the host key of ${describeTarget(t)} is not known (no entry for ${name} in ${file}): refused, onebackupd never accepts a key it was not given. Check the server's fingerprint (${scan} | ssh-keygen -lf -) and add its key: ${scan} >> ${t.knownHosts ?? '~/.ssh/known_hosts'}`,
      'host-key-unknown',
    );
  if (
    /Permission denied|Too many authentication failures|no such identity|Load key .*: (invalid format|bad permissions)/i.test(
      stderr,
    )
  )
    return new SshError(
      `${what}: ${describeTarget(t)} refused the login (${detail}); put the public half of ${t.key ?? "the daemon user's key"} in ~${t.user ?? ''}/.ssh/authorized_keys on the server`,
      'auth',
    );
  if (
    /Connection refused|Connection timed out|No route to host|Could not resolve|Network is unreachable|Name or service not known|connect to host/.test(
      stderr,
    )
  )
    return new SshError(
      `${what}: cannot reach ${describeTarget(t)} (${detail}); is sshd running there?`,
      'unreachable',
    );
  return new SshError(
    `${what}: the connection to ${describeTarget(t)} was lost${detail ? ` (${detail})` : ''}`,
    'lost',
  );
}
