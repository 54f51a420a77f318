/**
 * One error type for everything a user can see. The codes are OpenNebula's request error
 * categories (include/Request.h) because the XML-RPC API must return them anyway.
 */
export const ErrorCode = {
  SUCCESS: 0x0000,
  AUTHENTICATION: 0x0100,
  AUTHORIZATION: 0x0200,
  NO_EXISTS: 0x0400,
  ACTION: 0x0800,
  RPC_API: 0x1000,
  INTERNAL: 0x2000,
  ALLOCATE: 0x4000,
  LOCKED: 0x8000,
  REPLICATION: 0x10000,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

export class OneError extends Error {
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OneError';
    this.code = code;
  }
}

/** Where in a template a problem is: 1-based line and column, and the attribute it concerns. */
export interface TemplateProblem {
  readonly line: number;
  readonly column: number;
  readonly attribute?: string | undefined;
  readonly message: string;
}

/**
 * A template that cannot be accepted. Carries every problem found (decision 2: several errors in
 * one file are all reported at once). The message lists them one per line:
 * `template line 3, col 15 (BACKUP_VMS): <problem>`.
 */
export class TemplateError extends OneError {
  readonly problems: readonly TemplateProblem[];
  readonly file: string | undefined;
  constructor(problems: readonly TemplateProblem[], file?: string) {
    const sorted = [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
    super(ErrorCode.ACTION, TemplateError.format(sorted, file));
    this.name = 'TemplateError';
    this.problems = sorted;
    this.file = file;
  }

  static format(problems: readonly TemplateProblem[], file?: string): string {
    return problems
      .map((p) => {
        const where = `${file ?? 'template'} line ${p.line}, col ${p.column}`;
        return p.attribute ? `${where} (${p.attribute}): ${p.message}` : `${where}: ${p.message}`;
      })
      .join('\n');
  }
}

export function isOneError(err: unknown): err is OneError {
  return err instanceof OneError;
}

/** Errors that mean a bug in the daemon, never a state of the data: these stay INTERNAL. */
const BUG_ERRORS = new Set([
  'TypeError',
  'ReferenceError',
  'RangeError',
  'SyntaxError',
  'EvalError',
  'AssertionError',
]);

/**
 * OneError for an error that is not one, as OpenNebula would answer it: the state of the data or
 * a race made the action fail (a corrupt chunk, a missing key or manifest, a file error, a
 * concurrent change in the database), so ACTION, not INTERNAL. Recognised by name and code, as
 * this leaf module imports nothing: ChunkCorruptError, PermanentDriverError, node's system errors
 * (`code` E...), SqliteError (busy, locked, constraint) and PostgreSQL's (constraint, serialization,
 * deadlock), and any other plain Error raised by a
 * driver or the engine with a message. Returns undefined for bugs (TypeError and the like, or a
 * message that says "(bug)"), which stay INTERNAL with their stack in the log.
 */
export function asActionError(err: unknown): OneError | undefined {
  if (!(err instanceof Error) || BUG_ERRORS.has(err.name) || err.message.includes('(bug)')) return undefined;
  const code = (err as { code?: unknown }).code;
  if (err.name === 'SqliteError' && typeof code === 'string') {
    if (/^SQLITE_(BUSY|LOCKED|CONSTRAINT)/.test(code)) {
      return new OneError(
        ErrorCode.ACTION,
        `a concurrent change got there first (${err.message}); read the object again and retry`,
        { cause: err },
      );
    }
    return undefined;
  }
  // PostgreSQL's errors (pg's DatabaseError): a SQLSTATE code and a severity.
  if ('severity' in err && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    // 23: integrity constraint violation; 40: serialization failure, deadlock; 55P03: lock not available.
    if (/^(23|40)/.test(code) || code === '55P03') {
      return new OneError(
        ErrorCode.ACTION,
        `a concurrent change got there first (${err.message}); read the object again and retry`,
        { cause: err },
      );
    }
    return undefined;
  }
  if (err.message === '') return undefined;
  return new OneError(ErrorCode.ACTION, err.message, { cause: err });
}
