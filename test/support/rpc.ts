import { decodeMethodResponse, encodeMethodCall, type XmlRpcResponse } from '../../core/api/xmlrpc.js';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { oneadminSession, type RunningDaemon } from './daemon.js';

/** One XML-RPC call as sent, with the session first; the response as decoded (a value or a fault). */
export async function rpcRaw(
  d: RunningDaemon,
  method: string,
  params: readonly XmlRpcValue[],
): Promise<XmlRpcResponse> {
  const send = () =>
    fetch(d.url, {
      method: 'POST',
      body: encodeMethodCall(method, params),
      headers: { 'content-type': 'text/xml' },
    });
  let res: Response;
  try {
    res = await send();
  } catch (err) {
    // A kept-alive connection the daemon closed while this process was busy (writing a big disk,
    // say) fails before the request is sent: sent again on a new connection. Anything else throws.
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code !== 'UND_ERR_SOCKET') throw err;
    res = await send();
  }
  return decodeMethodResponse(await res.text());
}

/** One raw XML-RPC call; returns OpenNebula's [ok, body, code] array (throws on a fault). */
export async function rpcAs(
  d: RunningDaemon,
  session: string,
  method: string,
  ...params: XmlRpcValue[]
): Promise<XmlRpcValue[]> {
  const decoded = await rpcRaw(d, method, [session, ...params]);
  if ('fault' in decoded) throw new Error(`fault ${decoded.fault.code}: ${decoded.fault.message}`);
  return decoded.value as XmlRpcValue[];
}

export function rpc(d: RunningDaemon, method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue[]> {
  return rpcAs(d, oneadminSession(d), method, ...params);
}

/** Calls and insists on success; returns the body. */
export async function rpcOk(
  d: RunningDaemon,
  method: string,
  ...params: XmlRpcValue[]
): Promise<XmlRpcValue> {
  const [ok, body] = await rpc(d, method, ...params);
  if (ok !== true) throw new Error(`${method} failed: ${String(body)}`);
  return body as XmlRpcValue;
}
