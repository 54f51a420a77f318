/**
 * onebackupd's configuration: `onebackupd.conf` in OpenNebula template syntax (as oned.conf),
 * then command-line flags on top. Every value is checked, with the file's line in the message,
 * and the result is frozen.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { TemplateError, type TemplateProblem } from './errors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log.js';
import { DEFAULT_PORT, defaultStateDir } from './paths.js';
import { Secret } from './secret.js';
import type { StoreConfig } from './store/open.js';
import { parseTemplate } from './template/parser.js';
import type { Attribute } from './template/types.js';

export interface DaemonConfig {
  readonly listenAddress: string;
  readonly port: number;
  readonly stateDir: string;
  /** The state database; PostgreSQL's PASSWD is a Secret (never printed). */
  readonly db: StoreConfig;
  readonly timeZone: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly maxBackups: number;
  readonly maxBackupsHost: number;
  /** Restores running at once (0 = unlimited). */
  readonly maxRestores: number;
  /** Verify and garbage collection runs at once (0 = unlimited). */
  readonly maxMaintenance: number;
  /** Worker threads for the backup pipeline; 0 = one per core. */
  readonly workers: number;
  /** Largest XML-RPC request body accepted, in bytes. */
  readonly maxRequestBytes: number;
  /** Seconds running backups get to finish on SIGTERM before they are cancelled. */
  readonly shutdownGraceSeconds: number;
  /** Where GET /metrics and /health also listen; undefined: only on the API's address. */
  readonly metricsListen: { readonly address: string; readonly port: number } | undefined;
  /** Seconds between host monitoring passes (kvm: domains and VM states); 0 = only `onehost sync`. */
  readonly monitoringIntervalHost: number;
  /** Seconds between datastore probes (does the storage answer?); 0 = only before each use. */
  readonly monitoringIntervalDatastore: number;
  /** Seconds a datastore's storage has to answer a probe before it counts as not answering. */
  readonly datastoreTimeoutSeconds: number;
}

export interface ConfigOverrides {
  readonly listen?: string | undefined;
  readonly stateDir?: string | undefined;
}

const KNOWN = [
  'LISTEN_ADDRESS',
  'PORT',
  'STATE_DIR',
  'DB',
  'TIMEZONE',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'MAX_BACKUPS',
  'MAX_BACKUPS_HOST',
  'MAX_RESTORES',
  'MAX_MAINTENANCE',
  'WORKERS',
  'MAX_REQUEST_BYTES',
  'SHUTDOWN_GRACE',
  'METRICS_LISTEN',
  'MONITORING_INTERVAL_HOST',
  'MONITORING_INTERVAL_DATASTORE',
  'DATASTORE_TIMEOUT',
];

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Parses `HOST:PORT` (IPv6 as `[::1]:2633`). */
export function parseListen(value: string): { address: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { address: (m[1] ?? m[2]) as string, port };
}

export function loadConfig(
  text: string,
  file: string,
  overrides: ConfigOverrides = {},
  env = process.env,
): DaemonConfig {
  const attrs = text.trim() === '' ? [] : parseTemplate(text, { file }).attributes;
  const problems: TemplateProblem[] = [];
  const byName = new Map<string, Attribute>();
  for (const a of attrs) {
    if (!KNOWN.includes(a.name)) {
      problems.push({
        line: a.line,
        column: a.column,
        attribute: a.name,
        message: `unknown option ${a.name}; known: ${KNOWN.join(', ')}`,
      });
    } else if (byName.has(a.name)) {
      problems.push({
        line: a.line,
        column: a.column,
        attribute: a.name,
        message: `${a.name} is set twice; keep one`,
      });
    } else byName.set(a.name, a);
  }
  const fail = (a: Attribute, message: string) =>
    problems.push({ line: a.line, column: a.column, attribute: a.name, message });
  const str = (name: string): string | undefined => {
    const a = byName.get(name);
    if (!a) return undefined;
    if (a.kind === 'vector') {
      fail(a, `${name} takes a single value`);
      return undefined;
    }
    return a.value;
  };
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const v = str(name);
    if (v === undefined) return fallback;
    if (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max) return Number(v);
    fail(byName.get(name) as Attribute, `${name} = "${v}" is not a whole number in ${min}-${max}`);
    return fallback;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = str(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    fail(byName.get(name) as Attribute, `${name} = "${v}" is not one of ${allowed.join(', ')}`);
    return fallback;
  };

  let listenAddress = str('LISTEN_ADDRESS') ?? '127.0.0.1';
  let port = int('PORT', 0, 65535, DEFAULT_PORT);
  let stateDir = str('STATE_DIR') ?? defaultStateDir(env);
  const timeZone = str('TIMEZONE') ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!isTimeZone(timeZone))
    fail(
      byName.get('TIMEZONE') as Attribute,
      `TIMEZONE = "${timeZone}" is not an IANA time zone (e.g. "Europe/Madrid", "UTC")`,
    );

  const dbAttr = byName.get('DB');
  const dbParsed = dbAttr ? parseDb(dbAttr, fail) : undefined;

  let metricsListen: { address: string; port: number } | undefined;
  const metricsText = str('METRICS_LISTEN');
  if (metricsText !== undefined && metricsText.trim() !== '') {
    metricsListen = parseListen(metricsText);
    if (!metricsListen)
      fail(
        byName.get('METRICS_LISTEN') as Attribute,
        `METRICS_LISTEN = "${metricsText}" is not HOST:PORT (e.g. "127.0.0.1:9925"); leave it empty to serve /metrics on the API port`,
      );
  }

  if (overrides.listen !== undefined) {
    const l = parseListen(overrides.listen);
    if (!l)
      problems.push({
        line: 0,
        column: 0,
        attribute: '--listen',
        message: `--listen "${overrides.listen}" is not HOST:PORT (e.g. 127.0.0.1:2633, port 0 picks a free one)`,
      });
    else ({ address: listenAddress, port } = l);
  }
  if (overrides.stateDir !== undefined) stateDir = overrides.stateDir;
  stateDir = resolve(stateDir);
  let db: StoreConfig;
  if (dbParsed?.backend === 'postgresql') db = dbParsed;
  else {
    const path = dbParsed?.path ?? 'onebackup.db';
    db = { backend: 'sqlite', path: isAbsolute(path) ? path : join(stateDir, path) };
  }

  const config: DaemonConfig = {
    listenAddress,
    port,
    stateDir,
    db,
    timeZone,
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: oneOf('LOG_FORMAT', LOG_FORMATS, 'logfmt'),
    maxBackups: int('MAX_BACKUPS', 0, 10_000, 5),
    maxBackupsHost: int('MAX_BACKUPS_HOST', 0, 10_000, 2),
    maxRestores: int('MAX_RESTORES', 0, 10_000, 2),
    maxMaintenance: int('MAX_MAINTENANCE', 0, 10_000, 1),
    workers: int('WORKERS', 0, 256, 0),
    maxRequestBytes: int('MAX_REQUEST_BYTES', 1024, 1024 * 1024 * 1024, 1024 * 1024),
    shutdownGraceSeconds: int('SHUTDOWN_GRACE', 0, 86_400, 30),
    metricsListen: metricsListen ? Object.freeze(metricsListen) : undefined,
    monitoringIntervalHost: int('MONITORING_INTERVAL_HOST', 0, 86_400, 60),
    monitoringIntervalDatastore: int('MONITORING_INTERVAL_DATASTORE', 0, 86_400, 60),
    datastoreTimeoutSeconds: int('DATASTORE_TIMEOUT', 1, 3600, 10),
  };
  if (problems.length > 0) throw new TemplateError(problems, file);
  return Object.freeze({ ...config, db: Object.freeze(config.db) });
}

const SQLITE_KEYS = ['BACKEND', 'PATH'];
const POSTGRES_KEYS = ['BACKEND', 'SERVER', 'PORT', 'USER', 'PASSWD', 'DB_NAME', 'CONNECTIONS', 'LEASE'];
const DB_SAMPLE =
  'DB = [ BACKEND = "postgresql", SERVER = "db.example", PORT = 5432, USER = "onebackup", ' +
  'PASSWD = "...", DB_NAME = "onebackup", CONNECTIONS = 10 ]';

/**
 * DB = [ ... ] as oned.conf spells it: BACKEND = "sqlite" (PATH, inside STATE_DIR when relative)
 * or "postgresql" (SERVER, PORT, USER, PASSWD, DB_NAME, CONNECTIONS, LEASE: seconds after which the
 * backups of a daemon that stopped answering are requeued by the others). Problems name DB/<KEY>.
 */
function parseDb(
  a: Attribute,
  fail: (a: Attribute, message: string) => void,
): { backend: 'sqlite'; path: string | undefined } | StoreConfig | undefined {
  if (a.kind !== 'vector') {
    fail(a, `DB is a vector: DB = [ BACKEND = "sqlite", PATH = "onebackup.db" ] or ${DB_SAMPLE}`);
    return undefined;
  }
  const v = a.values;
  const backend = (v.get('BACKEND') ?? 'sqlite').toLowerCase();
  if (backend !== 'sqlite' && backend !== 'postgresql') {
    fail(a, `DB/BACKEND = "${backend}" is not supported; use "sqlite" (the default) or "postgresql"`);
    return undefined;
  }
  const keys = backend === 'sqlite' ? SQLITE_KEYS : POSTGRES_KEYS;
  for (const key of v.keys()) {
    if (keys.includes(key)) continue;
    const other = backend === 'sqlite' ? POSTGRES_KEYS : SQLITE_KEYS;
    fail(
      a,
      other.includes(key)
        ? `DB/${key} is a ${backend === 'sqlite' ? 'PostgreSQL' : 'SQLite'} option, but DB/BACKEND = "${backend}"; ` +
            `remove ${key} or set BACKEND = "${backend === 'sqlite' ? 'postgresql' : 'sqlite'}"`
        : `DB/${key} is not a known DB option for BACKEND = "${backend}" (${keys.join(', ')})`,
    );
  }
  if (backend === 'sqlite') return { backend, path: v.get('PATH') };
  const required = (key: string): string => {
    const value = v.get(key);
    if (value === undefined || value === '')
      fail(a, `DB/${key} is required with BACKEND = "postgresql": ${DB_SAMPLE}`);
    return value ?? '';
  };
  const whole = (key: string, min: number, max: number, fallback: number): number => {
    const text = v.get(key);
    if (text === undefined) return fallback;
    if (/^\d+$/.test(text) && Number(text) >= min && Number(text) <= max) return Number(text);
    fail(a, `DB/${key} = "${text}" is not a whole number in ${min}-${max}`);
    return fallback;
  };
  const server = required('SERVER');
  const user = required('USER');
  const database = required('DB_NAME');
  // oned.conf's PORT = 0 means the server's default port.
  const port = whole('PORT', 0, 65535, 5432) || 5432;
  const connections = whole('CONNECTIONS', 1, 1000, 10);
  const leaseSeconds = whole('LEASE', 6, 3600, 30);
  const passwd = v.get('PASSWD');
  return {
    backend: 'postgresql',
    server,
    port,
    user,
    password: passwd === undefined || passwd === '' ? undefined : new Secret(passwd),
    database,
    connections,
    leaseSeconds,
  };
}
