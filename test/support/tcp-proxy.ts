/**
 * A TCP forwarder between a daemon and PostgreSQL, to cut the network of one daemon as a real
 * partition does: cut() closes the database's side of every connection at once (PostgreSQL
 * frees that session's locks, as its keepalives would after a real cut) while the daemon's side
 * stays open and silent (its queries just get no answer, as across a dead link); connections
 * opened while cut are held silent too. heal() resets what was held (the daemon sees the
 * connections fail, as it would when a link comes back to a server that has forgotten them) and
 * forwards new connections again.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let cut = false;
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>();
  const server = createServer((client) => {
    const pair: { client: Socket; upstream: Socket | undefined } = { client, upstream: undefined };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (cut) return;
    const upstream = createConnection(target);
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      if (!cut) client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, target.host, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    cut() {
      cut = true;
      for (const p of pairs) {
        p.client.unpipe();
        p.upstream?.unpipe();
        p.upstream?.destroy();
        p.upstream = undefined;
      }
    },
    heal() {
      cut = false;
      for (const p of [...pairs]) if (p.upstream === undefined) p.client.destroy();
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
