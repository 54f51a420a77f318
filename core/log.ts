/**
 * One structured line per event, logfmt or JSON. Values that are `Secret`s print as
 * **redacted**; so do fields whose name says they hold a secret (password, session, key, token).
 */
import { Secret } from './secret.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };
const SECRET_FIELD = /pass|secret|session|token|key|auth/i;

function clean(name: string, value: unknown): unknown {
  if (value instanceof Secret) return String(value);
  if (SECRET_FIELD.test(name)) return '**redacted**';
  if (value instanceof Error) return value.message;
  return value;
}

function logfmtValue(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
  return /[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

export function createLogger(options: {
  level: LogLevel;
  format: LogFormat;
  write: (line: string) => void;
  now: () => number;
}): Logger {
  const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
    if (RANK[level] > RANK[options.level]) return;
    const entries: [string, unknown][] = [
      ['time', new Date(options.now()).toISOString()],
      ['level', level],
      ['msg', msg],
      ...Object.entries(fields).map(([k, v]) => [k, clean(k, v)] as [string, unknown]),
    ];
    const line =
      options.format === 'json'
        ? JSON.stringify(Object.fromEntries(entries))
        : entries.map(([k, v]) => `${k}=${logfmtValue(v)}`).join(' ');
    options.write(`${line}\n`);
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
  };
}
