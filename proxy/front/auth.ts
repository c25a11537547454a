import { parseBearer } from '../../shared/admin-gate';
import type { Authenticator, Principal } from '../../shared/authenticator';
import { ProxyErrorCode } from '../errors';
import type { WireError } from './wire-error';

/** Who a request is: its principal (undefined without credentials), or why its credentials were refused. */
export type Credentials = { ok: true; principal: Principal | undefined } | { ok: false; error: WireError };

const NONE: Credentials = { ok: true, principal: undefined };

/** The wire error of a failed authentication (never quoting what was sent). */
export function credentialsRefusal(reason: 'WRONGPASS' | 'BUSY'): WireError {
  return reason === 'BUSY'
    ? { code: ProxyErrorCode.AUTH_BUSY, message: 'too many authentications in progress on this proxy; retry shortly' }
    : { code: ProxyErrorCode.WRONGPASS, message: 'invalid username-password pair or user is disabled' };
}

/**
 * Resolves the principal of an `Authorization` header value ('' when absent) for the HTTP and
 * WebSocket fronts. Calls `done` synchronously when nothing is to verify (auth off, no header, a
 * token verified before), else once the verification ends. Without a header the principal is
 * undefined: the Dispatcher then answers NOAUTH to anything that needs a grant. A header that is
 * not `Bearer <user>:<password>` is refused as a wrong password.
 */
export function resolveCredentials(auth: Authenticator | undefined, header: string, done: (c: Credentials) => void): void {
  if (auth === undefined || header === '' || !auth.enabled) return done(NONE);
  const creds = parseBearer(header);
  if (creds === undefined) return done({ ok: false, error: credentialsRefusal('WRONGPASS') });
  const cached = auth.cached(creds.user, creds.secret);
  if (cached !== undefined) return done({ ok: true, principal: cached });
  void auth.authenticate(creds.user, creds.secret).then((r) => done(r.ok ? { ok: true, principal: r.principal } : { ok: false, error: credentialsRefusal(r.reason) }));
}
