/** The CLIs' only way to the daemon: one XML-RPC call, OpenNebula's [ok, body, code] unpacked. */
import { decodeMethodResponse, encodeMethodCall, type XmlRpcValue } from '../../core/api/xmlrpc.js';
import { CliError, type Connection } from './credentials.js';

export class ApiError extends CliError {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export class OneClient {
  constructor(readonly connection: Connection) {}

  /** Calls method with the session prepended; returns the body of a successful response. */
  async call(method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue> {
    let response: Response;
    try {
      response = await fetch(this.connection.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body: encodeMethodCall(method, [this.connection.session, ...params]),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(
        `cannot reach onebackupd at ${this.connection.endpoint} (${why}); is it running? ` +
          'Set --endpoint or ONE_XMLRPC to its URL',
      );
    }
    const text = await response.text();
    if (!response.ok)
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
