/**
 * Which hypervisor driver serves a host: on the daemon's own machine (`localhost`, or
 * TRANSPORT = "local") the local drivers; on any other host the same drivers run by that host's
 * agent over SSH (remote-driver.ts), one connection per host, opened on first use and again after
 * a failure. The host's NAME is its SSH address; SSH_PORT, SSH_USER, SSH_KEY and SSH_KNOWN_HOSTS
 * override the daemon user's OpenSSH configuration (drivers/ssh.ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode, OneError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';

import type { HostAccess, HostAccessProblem, HostHealth } from '../../core/vm-discovery.js';
import type { HypervisorDriver, HypervisorHosts } from '../hypervisor/types.js';
import { parseSshTarget, type SshTarget } from '../ssh.js';
import { machineHealth } from './agent.js';
import { AgentConnection } from './agent-connection.js';
import { RemoteHypervisorDriver } from './remote-driver.js';

const BUNDLE = fileURLToPath(new URL('../../agent/onebackup-agent.mjs', import.meta.url));

/** TRANSPORT's values: `local` (this machine) or `ssh`; without it, only `localhost` is local. */
export function isLocalHost(host: HostAccess | undefined): boolean {
  if (!host) return true;
  const transport = host.attributes.TRANSPORT?.toLowerCase();
  if (transport !== undefined) return transport === 'local';
  return host.name === 'localhost';
}

function parseTarget(host: HostAccess, problem: (attribute: string, message: string) => void): SshTarget {
  const get = (a: string) => (a === 'NAME' ? host.name : host.attributes[a]);
  return parseSshTarget(get, { host: 'NAME', user: 'SSH_USER' }, problem);
}

export function checkHostAccess(host: HostAccess): HostAccessProblem[] {
  const problems: HostAccessProblem[] = [];
  const transport = host.attributes.TRANSPORT;
  if (transport !== undefined && !['local', 'ssh'].includes(transport.toLowerCase()))
    problems.push({
      attribute: 'TRANSPORT',
      message: `TRANSPORT="${transport}" is not a transport: "ssh" (the host's NAME is its SSH address, the default) or "local" (the daemon's own machine)`,
    });
  if (!isLocalHost(host))
    parseTarget(host, (attribute, message) =>
      problems.push({
        attribute,
        message:
          attribute === 'NAME'
            ? `${message}: a host's NAME is the SSH address the daemon reaches it at; for the daemon's own machine add TRANSPORT = "local"`
            : message,
      }),
    );
  return problems;
}

async function localHealth(paths: readonly string[]): Promise<HostHealth> {
  return {
    reachable: true,
    version: VERSION.onebackup,
    node: process.version,
    ...(await machineHealth(paths)),
  };
}

export interface HostDriversOptions {
  /** The agent bundle sent to hosts (default: dist/agent/onebackup-agent.mjs next to this file). */
  readonly bundlePath?: string;
  readonly sshBinary?: string;
}

export function hypervisorHosts(
  local: ReadonlyMap<string, HypervisorDriver>,
  options: HostDriversOptions = {},
): HypervisorHosts {
  const connections = new Map<string, Promise<AgentConnection>>();
  /** Bytes to and from each host's agents, by host name, since the daemon started. */
  const traffic = new Map<string, { received: number; sent: number }>();
  const remotes = new Map<string, RemoteHypervisorDriver>();
  const bundlePath = options.bundlePath ?? BUNDLE;

  const targetOf = (host: HostAccess): SshTarget =>
    parseTarget(host, (attribute, message) => {
      throw new OneError(
        ErrorCode.ACTION,
        `host ${host.name}: ${attribute}: ${message}; fix it with onehost update`,
      );
    });

  const reach = (target: SshTarget) => {
    const key = JSON.stringify(target);
    return async (): Promise<AgentConnection> => {
      const open = connections.get(key);
      if (open) {
        const c = await open.catch(() => undefined);
        if (c?.alive) return c;
        if (connections.get(key) === open) connections.delete(key);
      }
      if (!existsSync(bundlePath))
        throw new OneError(
          ErrorCode.INTERNAL,
          `the host agent (${bundlePath}) is missing: build onebackup with npm run build`,
        );
      let counted = traffic.get(target.host);
      if (!counted) {
        counted = { received: 0, sent: 0 };
        traffic.set(target.host, counted);
      }
      const opening = AgentConnection.open(target, bundlePath, counted, options.sshBinary);
      connections.set(key, opening);
      opening.catch(() => {
        if (connections.get(key) === opening) connections.delete(key);
      });
      return opening;
    };
  };

  const remote = (vmMad: string, host: HostAccess): RemoteHypervisorDriver | undefined => {
    const base = local.get(vmMad);
    if (!base) return undefined;
    const target = targetOf(host);
    const key = `${vmMad} ${JSON.stringify(target)}`;
    let driver = remotes.get(key);
    if (!driver) {
      driver = new RemoteHypervisorDriver(vmMad, base.capabilities, reach(target));
      remotes.set(key, driver);
    }
    return driver;
  };

  return {
    names: [...local.keys()],
    isLocal: isLocalHost,
    check: checkHostAccess,
    driver(vmMad, host) {
      return isLocalHost(host) ? local.get(vmMad) : remote(vmMad, host as HostAccess);
    },
    async health(host, paths) {
      if (isLocalHost(host)) return localHealth(paths);
      const access = host as HostAccess;
      try {
        const driver = remote(local.keys().next().value ?? 'fs', access) as RemoteHypervisorDriver;
        const { hello, health } = await driver.health(paths);
        return { reachable: true, version: hello.version, node: hello.node, ...health };
      } catch (err) {
        return { reachable: false, error: err instanceof Error ? err.message : String(err), space: [] };
      }
    },
    traffic: () => [...traffic].map(([host, t]) => ({ host, ...t })),
    async close() {
      const all = [...connections.values()];
      connections.clear();
      await Promise.allSettled(all.map(async (c) => (await c).close()));
    },
  };
}
