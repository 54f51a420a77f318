/**
 * What crosses the SSH connection between the daemon and a host's agent, besides the framing
 * (frames.ts): the calls the agent serves, the point in time and disk writer as the daemon sees
 * them (the agent keeps the real objects behind a handle), and errors with their classification.
 */
import { ErrorCode, type ErrorCodeValue, OneError } from '../../core/errors.js';
import { PermanentDriverError } from '../../core/permanent-failure.js';
import type { HypervisorCapabilities } from '../hypervisor/types.js';

/**
 * Bumped when a call or its arguments change meaning; the daemon refuses an agent of another.
 * 2: `digests` takes a host digest key as its body (keyed digests for encrypted datastores).
 */
export const PROTOCOL_VERSION = 2;

export type AgentMethod =
  | 'inspect'
  | 'prepare'
  | 'extents'
  | 'read'
  | 'digests'
  | 'release'
  | 'recover'
  | 'discover'
  | 'define'
  | 'disksOf'
  | 'stateOf'
  | 'createDisk'
  | 'freeBytes'
  | 'writer.write'
  | 'writer.checkpoint'
  | 'writer.commit'
  | 'writer.abort'
  | 'writer.suspend'
  | 'health';

/** The agent's first message. */
export interface AgentHello {
  readonly t: 'hello';
  readonly protocol: number;
  /** onebackup's version and the agent bundle's digest: what `onehost show` calls the driver version. */
  readonly version: string;
  readonly node: string;
  readonly hostname: string;
  readonly drivers: readonly { readonly name: string; readonly capabilities: HypervisorCapabilities }[];
}

/** A host's state as its agent sees it (host monitoring). */
export interface AgentHealth {
  /** Free and total bytes of the filesystems holding the paths asked about, by path. */
  readonly space: readonly {
    readonly path: string;
    readonly freeBytes: number;
    readonly totalBytes: number;
    readonly error?: string;
  }[];
  readonly load1: number;
  readonly cpus: number;
}

export interface WireError {
  readonly message: string;
  readonly name?: string;
  /** An errno code (ENOENT, ...), kept so messages and classifications survive the trip. */
  readonly errno?: string;
  /** A OneError's code. */
  readonly oneCode?: number;
  /** The driver's own isPermanent() verdict, taken on the host. */
  readonly permanent: boolean;
}

export function toWireError(err: unknown, permanent: boolean): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  const errno = (e as NodeJS.ErrnoException).code;
  return {
    message: e.message,
    name: e.name,
    ...(typeof errno === 'string' ? { errno } : {}),
    ...(e instanceof OneError ? { oneCode: e.code } : {}),
    permanent,
  };
}

/** An error raised on the host, rebuilt on the daemon's side with the same classification. */
export class RemoteDriverError extends Error {
  override name = 'RemoteDriverError';
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export function fromWireError(w: WireError, host: string): Error {
  const message = `on host ${host}: ${w.message}`;
  if (w.oneCode !== undefined && Object.values(ErrorCode).includes(w.oneCode as ErrorCodeValue))
    return new OneError(w.oneCode as ErrorCodeValue, message);
  if (w.permanent) return new PermanentDriverError(message);
  return new RemoteDriverError(message, false, w.errno);
}
