import type { Authenticator } from './authenticator';

/** A refusal of an admin request, in the `{ error: { code, message } }` shape of every admin port. */
export interface GateRefusal {
  status: number;
  body: { error: { code: string; message: string } };
  /** Headers of the refusal; a list is sent as one header line per value. */
  headers: Record<string, string | string[]>;
}

/** `Authorization: Bearer <user>:<password>` as user and secret; undefined when absent or of another shape. */
export function parseBearer(header: string | undefined): { user: string; secret: string } | undefined {
  if (header === undefined || header.length > 1100 || !/^bearer /i.test(header)) return undefined;
  const token = header.slice(7).trim();
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return undefined;
  return { user: token.slice(0, colon), secret: token.slice(colon + 1) };
}

/**
 * `Authorization: Basic base64(user:password)` as user and secret (what a browser sends after its
 * login prompt, also on EventSource requests); undefined when absent or of another shape.
 */
export function parseBasic(header: string | undefined): { user: string; secret: string } | undefined {
  if (header === undefined || header.length > 1500 || !/^basic /i.test(header)) return undefined;
  const text = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  return { user: text.slice(0, colon), secret: text.slice(colon + 1) };
}

const BEARER_CHALLENGE = 'Bearer realm="shardcache-admin"';
const BASIC_CHALLENGE = 'Basic realm="shardcache-admin", charset="UTF-8"';

export interface AdminGateOptions {
  /**
   * Also take HTTP Basic credentials, and ask for them in a 401 (a second WWW-Authenticate
   * line after the Bearer one), so a browser shows its login prompt: the control plane's
   * dashboard. Off: Bearer only, as the proxy's admin port.
   */
  basic?: boolean;
}

/**
 * The door of an admin port (proxy, control plane) while the cluster requires authentication:
 * every path but the public ones needs a bearer token (or, with `basic`, HTTP Basic credentials)
 * of a user with `admin` on `*`. With auth
 * off, everything is open (loopback deployments). Resolves with a refusal, or undefined to let the
 * request through. Messages never quote the token.
 */
export class AdminGate {
  readonly #auth: Authenticator;
  readonly #public: ReadonlySet<string>;
  readonly #basic: boolean;

  /** `publicPaths`: answered without credentials (e.g. `/healthz`, and `/metrics` with --metrics-public). */
  constructor(auth: Authenticator, publicPaths: Iterable<string>, options: AdminGateOptions = {}) {
    this.#auth = auth;
    this.#public = new Set(publicPaths);
    this.#basic = options.basic === true;
  }

  async check(authorization: string | undefined, path: string): Promise<GateRefusal | undefined> {
    if (!this.#auth.enabled || this.#public.has(path)) return undefined;
    const creds = parseBearer(authorization) ?? (this.#basic ? parseBasic(authorization) : undefined);
    if (creds === undefined) return this.#refusal(401, 'NOAUTH', 'authentication required: send "Authorization: Bearer <user>:<password>" of a user with admin on "*"');
    const result = await this.#auth.authenticate(creds.user, creds.secret);
    if (!result.ok) {
      return result.reason === 'BUSY'
        ? this.#refusal(503, 'AUTH_BUSY', 'too many authentications in progress; retry shortly')
        : this.#refusal(401, 'WRONGPASS', 'invalid username-password pair or user is disabled');
    }
    if (!this.#auth.allows(result.principal, '*', 'admin')) return this.#refusal(403, 'NOPERM', `user ${result.principal.user} has no admin grant on "*"`);
    return undefined;
  }

  #refusal(status: number, code: string, message: string): GateRefusal {
    const challenge = this.#basic ? [BEARER_CHALLENGE, BASIC_CHALLENGE] : BEARER_CHALLENGE;
    return { status, body: { error: { code, message } }, headers: status === 401 ? { 'www-authenticate': challenge } : {} };
  }
}
