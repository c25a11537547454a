import type { Authenticator } from './authenticator';

/** A refusal of an admin request, in the `{ error: { code, message } }` shape of every admin port. */
export interface GateRefusal {
  status: number;
  body: { error: { code: string; message: string } };
  headers: Record<string, string>;
}

/** `Authorization: Bearer <user>:<password>` as user and secret; undefined when absent or of another shape. */
export function parseBearer(header: string | undefined): { user: string; secret: string } | undefined {
  if (header === undefined || header.length > 1100 || !/^bearer /i.test(header)) return undefined;
  const token = header.slice(7).trim();
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return undefined;
  return { user: token.slice(0, colon), secret: token.slice(colon + 1) };
}

const refusal = (status: number, code: string, message: string): GateRefusal => ({
  status, body: { error: { code, message } }, headers: status === 401 ? { 'www-authenticate': 'Bearer realm="shardcache-admin"' } : {},
});

/**
 * The door of an admin port (proxy, control plane) while the cluster requires authentication:
 * every path but the public ones needs a bearer token of a user with `admin` on `*`. With auth
 * off, everything is open (loopback deployments). Resolves with a refusal, or undefined to let the
 * request through. Messages never quote the token.
 */
export class AdminGate {
  readonly #auth: Authenticator;
  readonly #public: ReadonlySet<string>;

  /** `publicPaths`: answered without credentials (e.g. `/healthz`, and `/metrics` with --metrics-public). */
  constructor(auth: Authenticator, publicPaths: Iterable<string>) {
    this.#auth = auth;
    this.#public = new Set(publicPaths);
  }

  async check(authorization: string | undefined, path: string): Promise<GateRefusal | undefined> {
    if (!this.#auth.enabled || this.#public.has(path)) return undefined;
    const creds = parseBearer(authorization);
    if (creds === undefined) return refusal(401, 'NOAUTH', 'authentication required: send "Authorization: Bearer <user>:<password>" of a user with admin on "*"');
    const result = await this.#auth.authenticate(creds.user, creds.secret);
    if (!result.ok) {
      return result.reason === 'BUSY'
        ? refusal(503, 'AUTH_BUSY', 'too many authentications in progress; retry shortly')
        : refusal(401, 'WRONGPASS', 'invalid username-password pair or user is disabled');
    }
    if (!this.#auth.allows(result.principal, '*', 'admin')) return refusal(403, 'NOPERM', `user ${result.principal.user} has no admin grant on "*"`);
    return undefined;
  }
}
