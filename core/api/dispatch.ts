/**
 * One XML-RPC call from decoded request to OpenNebula's response array: find the method (an own
 * property of the table only, so `constructor` or `__proto__` are unknown methods), check the
 * arguments, authenticate the session, run the handler, and shape errors as
 * `[false, "[method] message", code]`. Failures of the data or races answer ACTION; only bugs
 * answer INTERNAL (with their stack in the log). What oned's XML-RPC layer (xmlrpc-c) refuses
 * before a method runs is a fault, as there: an unknown method (-506), a session that is not a
 * string, a missing argument or one of the wrong type (-501). Never throws.
 */
import { asActionError, ErrorCode, isOneError, type OneError } from '../errors.js';
import type { Logger } from '../log.js';
import { METHODS, type MethodResult, type Services } from './methods.js';
import { FaultCode, XmlRpcFaultError } from './signature.js';
import type { XmlRpcValue } from './xmlrpc-value.js';

export type OneResponse = [boolean, MethodResult, number];

/** An XML-RPC fault: the call never reached a method. */
export interface FaultResponse {
  readonly fault: { readonly code: number; readonly message: string };
}

/** Where a call comes from: the client address (failed logins are throttled per address). */
export interface CallOrigin {
  readonly address: string;
}

export async function dispatch(
  services: Services,
  log: Logger,
  methodName: string,
  params: readonly XmlRpcValue[],
  origin: CallOrigin = { address: '' },
): Promise<OneResponse | FaultResponse> {
  const fail = (code: number, message: string): OneResponse => [false, `[${methodName}] ${message}`, code];
  const def = Object.hasOwn(METHODS, methodName) ? METHODS[methodName] : undefined;
  if (!def) {
    return {
      fault: {
        code: FaultCode.NO_SUCH_METHOD,
        message: `Method '${methodName}' not defined; see the OpenNebula XML-RPC reference`,
      },
    };
  }
  const [session, ...rest] = params;
  if (typeof session !== 'string') {
    return {
      fault: {
        code: FaultCode.TYPE,
        message: `Parameter that is supposed to be string is not: argument 1 (session) of ${methodName} must be a string "user:password"`,
      },
    };
  }
  let user = '';
  try {
    let call: ReturnType<typeof def.prepare>;
    try {
      call = def.prepare(methodName, rest);
    } catch (err) {
      if (err instanceof XmlRpcFaultError) {
        log.debug('call', { method: methodName, ok: false, fault: err.code, error: err.message });
        return { fault: { code: err.code, message: err.message } };
      }
      throw err;
    }
    const who = await services.users.authenticate(session, origin.address);
    user = who.uname;
    const body = await call(services, who);
    log.debug('call', { method: methodName, user, ok: true });
    return [true, body, 0];
  } catch (err) {
    const known: OneError | undefined = isOneError(err) ? err : asActionError(err);
    if (known) {
      const fields = { method: methodName, user, ok: false, code: known.code, error: known.message };
      if (known === err) log.debug('call', fields);
      else log.warn('call failed', fields);
      return fail(known.code, known.message);
    }
    log.error('internal error', {
      method: methodName,
      user,
      error: err instanceof Error ? err.stack : String(err),
    });
    return fail(ErrorCode.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
