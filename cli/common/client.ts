/** The CLIs' only way to the daemon: one XML-RPC call, OpenNebula's [ok, body, code] unpacked. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { decodeMethodResponse, encodeMethodCall } from '../../core/api/xmlrpc.js';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { CliError } from '../cli-error.js';
import { type Connection, resolveConnection } from './credentials.js';

class ApiError extends CliError {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * One POST with node:http (fetch's undici costs a CLI about 20 ms of start-up). Errors carry
 * the socket's code (ECONNREFUSED...) as `cause`, as fetch's do.
 */
function post(endpoint: string, body: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(endpoint);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      { method: 'POST', headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(Object.assign(new Error(err.message), { cause: err })));
    req.end(body);
  });
}

/** Calls started by startEarlyCall, by endpoint and request body, until a client takes them. */
const early = new Map<string, Promise<HttpAnswer>>();

/**
 * Starts, before the CLI's other modules load (yargs alone takes about 65 ms), a read-only call
 * the command is about to make, so the daemon works meanwhile. The client takes its answer only
 * for the very same request (endpoint and body, session included), and reports its errors as its
 * own; otherwise nothing changes. Without usable credentials nothing is started: the command
 * reports that itself.
 */
export function startEarlyCall(method: string, ...params: XmlRpcValue[]): void {
  let connection: Connection;
  try {
    connection = resolveConnection({});
  } catch {
    return;
  }
  const body = encodeMethodCall(method, [connection.session, ...params]);
  const answer = post(connection.endpoint, body);
  // Handled by the client that takes it; a command that never does has no use for the error.
  answer.catch(() => undefined);
  early.set(`${connection.endpoint}\n${body}`, answer);
}

function takeEarlyCall(endpoint: string, body: string): Promise<HttpAnswer> | undefined {
  const key = `${endpoint}\n${body}`;
  const answer = early.get(key);
  early.delete(key);
  return answer;
}

export class OneClient {
  constructor(readonly connection: Connection) {}

  /** Calls method with the session prepended; returns the body of a successful response. */
  async call(method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue> {
    let response: HttpAnswer;
    try {
      const body = encodeMethodCall(method, [this.connection.session, ...params]);
      response = await (takeEarlyCall(this.connection.endpoint, body) ??
        post(this.connection.endpoint, body));
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(
        `cannot reach onebackupd at ${this.connection.endpoint} (${why}); is it running? ` +
          'Set --endpoint or ONE_XMLRPC to its URL',
      );
    }
    const text = response.text;
    if (response.status < 200 || response.status > 299)
      throw new CliError(`${this.connection.endpoint}: HTTP ${response.status}: ${text.trim()}`);
    const decoded = decodeMethodResponse(text);
    if ('fault' in decoded) throw new ApiError(decoded.fault.message, decoded.fault.code);
    const value = decoded.value;
    if (!Array.isArray(value) || typeof value[0] !== 'boolean') {
      throw new CliError(`${this.connection.endpoint}: unexpected response to ${method}`);
    }
    if (!value[0]) throw new ApiError(String(value[1]), typeof value[2] === 'number' ? value[2] : -1);
    return value[1] as XmlRpcValue;
  }

  async callString(method: string, ...params: XmlRpcValue[]): Promise<string> {
    return String(await this.call(method, ...params));
  }

  async callInt(method: string, ...params: XmlRpcValue[]): Promise<number> {
    const v = await this.call(method, ...params);
    if (typeof v !== 'number') throw new CliError(`${method} answered ${String(v)}, not an ID`);
    return v;
  }
}
