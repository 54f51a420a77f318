/**
 * One XML-RPC call from decoded request to OpenNebula's response array: find the method, check
 * the arguments, authenticate the session, run the handler, and shape errors as
 * `[false, "[method] message", code]`. Never throws.
 */
import { ErrorCode, isOneError } from '../errors.js';
import type { Logger } from '../log.js';
import { METHODS, type Services } from './methods.js';
import type { XmlRpcValue } from './xmlrpc-value.js';

export type OneResponse = [boolean, number | string | boolean, number];

export async function dispatch(
  services: Services,
  log: Logger,
  methodName: string,
  params: readonly XmlRpcValue[],
): Promise<OneResponse> {
  const fail = (code: number, message: string): OneResponse => [false, `[${methodName}] ${message}`, code];
  const def = METHODS[methodName];
  if (!def)
    return fail(
      ErrorCode.RPC_API,
      `method ${methodName} does not exist; see the OpenNebula XML-RPC reference`,
    );
  const [session, ...rest] = params;
  if (typeof session !== 'string') {
    return fail(ErrorCode.RPC_API, 'argument 1 (session) must be a string "user:password"');
  }
  let user = '';
  try {
    const call = def.prepare(methodName, rest);
    const who = await services.users.authenticate(session);
    user = who.uname;
    const body = await call(services, who);
    log.debug('call', { method: methodName, user, ok: true });
    return [true, body, 0];
  } catch (err) {
    if (isOneError(err)) {
      log.debug('call', { method: methodName, user, ok: false, code: err.code, error: err.message });
      return fail(err.code, err.message);
    }
    log.error('internal error', {
      method: methodName,
      user,
      error: err instanceof Error ? err.stack : String(err),
    });
    return fail(ErrorCode.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
