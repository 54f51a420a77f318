/**
 * The separate listener of METRICS_LISTEN: GET /metrics and GET /health only, so Prometheus can
 * scrape on a management address while the XML-RPC API stays elsewhere (or the other way round).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, listenOn } from '../http-listen.js';
import type { Logger } from '../log.js';

export type GetRoute = () => Promise<readonly [number, string, string]>;

export class MetricsHttpServer {
  readonly #server: Server;

  constructor(routes: ReadonlyMap<string, GetRoute>, log: Logger) {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = routes.get(path);
      if (req.method !== 'GET' || !route) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`not found: this listener serves GET ${[...routes.keys()].join(', GET ')}\n`);
        return;
      }
      route().then(
        ([status, type, body]) => {
          res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        },
        (err: unknown) => {
          log.error('metrics request failed', {
            path,
            error: err instanceof Error ? err.message : String(err),
          });
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error\n');
        },
      );
    });
  }

  listen(address: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, address, port);
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}
