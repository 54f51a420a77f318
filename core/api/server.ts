/**
 * HTTP front door: POST /RPC2 (XML-RPC), GET /health. Bodies over the configured limit are
 * refused with an XML-RPC fault before they are read whole; bad XML gets a fault; nothing a
 * client sends can crash the daemon.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode } from '../errors.js';
import { closeServer, listenOn } from '../http-listen.js';
import type { Logger } from '../log.js';
import { dispatch } from './dispatch.js';
import type { Services } from './methods.js';
import { decodeMethodCall, encodeFault, encodeMethodResponseBytes } from './xmlrpc.js';

export interface ApiServerOptions {
  readonly services: Services;
  readonly log: Logger;
  readonly maxRequestBytes: number;
  /** Extra GET routes (e.g. /metrics), path → handler returning [contentType, body]. */
  readonly routes?: ReadonlyMap<string, () => Promise<readonly [string, string]>>;
  /** GET /health: HTTP status and JSON body; without it, a static 200 {"status":"ok"}. */
  readonly health?: () => Promise<readonly [number, string]>;
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  close = false,
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<string | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      resolve('too-large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export class ApiServer {
  readonly #server: Server;
  readonly #options: ApiServerOptions;

  constructor(options: ApiServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        options.log.error('request failed', { error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
        else res.destroy();
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      const [status, body] = this.#options.health ? await this.#options.health() : [200, '{"status":"ok"}\n'];
      send(res, status, 'application/json', body);
      return;
    }
    const route = req.method === 'GET' && path ? this.#options.routes?.get(path) : undefined;
    if (route) {
      const [type, body] = await route();
      send(res, 200, type, body);
      return;
    }
    if (path !== '/RPC2') {
      send(res, 404, 'text/plain', 'not found: the XML-RPC endpoint is POST /RPC2\n');
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      send(res, 405, 'text/plain', 'XML-RPC needs POST /RPC2\n');
      return;
    }
    const body = await readBody(req, this.#options.maxRequestBytes);
    if (body === 'too-large') {
      const fault = encodeFault(
        ErrorCode.RPC_API,
        `request body is larger than MAX_REQUEST_BYTES (${this.#options.maxRequestBytes} bytes)`,
      );
      send(res, 200, 'text/xml', fault, true);
      req.destroy();
      return;
    }
    let call: { methodName: string; params: Parameters<typeof dispatch>[3] };
    try {
      call = decodeMethodCall(body);
    } catch (err) {
      send(
        res,
        200,
        'text/xml',
        encodeFault(ErrorCode.RPC_API, `malformed XML-RPC request: ${(err as Error).message}`),
      );
      return;
    }
    const response = await dispatch(this.#options.services, this.#options.log, call.methodName, call.params, {
      address: req.socket.remoteAddress ?? '',
    });
    send(
      res,
      200,
      'text/xml',
      'fault' in response
        ? encodeFault(response.fault.code, response.fault.message)
        : encodeMethodResponseBytes(response),
    );
  }

  listen(address: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, address, port);
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}
