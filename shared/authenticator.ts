import { grantedLevel, levelRank, verifySecret, type AccessLevel, type UserRecord } from './credentials';

/** Who a client proved to be: a user and the hash of the secret it presented (so a rotated-out secret stops working). */
export interface Principal {
  readonly user: string;
  readonly secretHash: string;
}

/** The outcome of one authentication. */
export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: 'WRONGPASS' | 'BUSY' };

export interface AuthenticatorOptions {
  /** The users of the current topology snapshot (none before the first load). */
  users(): ReadonlyMap<string, UserRecord> | undefined;
  /** Whether the cluster requires authentication (`config.auth`). */
  enabled(): boolean;
  /** scrypt verifications running at once (each takes a libuv thread and 16 MiB for tens of ms). */
  maxConcurrent?: number;
  /** Verifications waiting for a slot; past it a client is told BUSY instead of queueing. */
  maxWaiting?: number;
  /** Verified secrets remembered, so a bearer token costs a map lookup per request, not a KDF. */
  cacheSize?: number;
  /** Called once per verification with its outcome (metrics). */
  onVerify?(ok: boolean): void;
}

/**
 * Checks credentials against the `users/<name>` records every proxy watches, and what a principal
 * may do in a namespace. The one place every front asks (HTTP and WebSocket bearer tokens, RESP
 * AUTH/HELLO); the Dispatcher asks `levelIn` before it runs a command.
 *
 * Cost bounds, since wrong passwords are an attacker's to send: scrypt runs on at most
 * `maxConcurrent` threads with `maxWaiting` callers queued (more get BUSY at once); identical
 * concurrent attempts share one verification; verified secrets are cached by their exact text
 * (bounded, oldest dropped first) and re-checked against the current record, so a removed user or
 * a rotated-out secret fails from the next request on. Failed attempts are not cached: each costs
 * a queued verification, never unbounded memory.
 */
export class Authenticator {
  readonly #o: Required<Omit<AuthenticatorOptions, 'onVerify'>> & Pick<AuthenticatorOptions, 'onVerify'>;
  /** `user + "\n" + secret` -> the hash it matched. */
  readonly #verified = new Map<string, string>();
  readonly #flights = new Map<string, Promise<AuthResult>>();
  readonly #waiting: Array<() => void> = [];
  #running = 0;

  constructor(options: AuthenticatorOptions) {
    this.#o = { maxConcurrent: 2, maxWaiting: 64, cacheSize: 10_000, ...options };
  }

  /** Whether clients must authenticate. */
  get enabled(): boolean {
    return this.#o.enabled();
  }

  /** The principal for `user`/`secret` when it was verified before and still holds; else undefined (call `authenticate`). */
  cached(user: string, secret: string): Principal | undefined {
    const hash = this.#verified.get(`${user}\n${secret}`);
    if (hash === undefined) return undefined;
    const principal = { user, secretHash: hash };
    return this.record(principal) === undefined ? undefined : principal;
  }

  /** Verifies `user`/`secret` (cached when seen before). Never rejects. */
  authenticate(user: string, secret: string): Promise<AuthResult> {
    // No stored user or password is longer: refused before it costs a verification or memory.
    if (user.length > MAX_USER_LENGTH || secret.length > MAX_SECRET_LENGTH) return Promise.resolve(WRONGPASS);
    const hit = this.cached(user, secret);
    if (hit !== undefined) return Promise.resolve({ ok: true, principal: hit });
    const token = `${user}\n${secret}`;
    let flight = this.#flights.get(token);
    if (flight === undefined) {
      if (this.#running >= this.#o.maxConcurrent && this.#waiting.length >= this.#o.maxWaiting) return Promise.resolve({ ok: false, reason: 'BUSY' });
      flight = this.#verify(user, secret, token).finally(() => this.#flights.delete(token));
      this.#flights.set(token, flight);
    }
    return flight;
  }

  /** The principal's current record, or undefined once the user is gone or no longer holds the secret it presented. */
  record(p: Principal): UserRecord | undefined {
    const user = this.#o.users()?.get(p.user);
    if (user === undefined) return undefined;
    for (const s of user.secrets) if (s.hash === p.secretHash) return user;
    return undefined;
  }

  /** The level `p` holds on namespace `ns` (undefined: none, or the principal no longer holds). */
  levelIn(p: Principal, ns: string): AccessLevel | undefined {
    const user = this.record(p);
    return user === undefined ? undefined : grantedLevel(user.grants, ns);
  }

  /** Whether `p` may act at `level` on `ns`. */
  allows(p: Principal, ns: string, level: AccessLevel): boolean {
    return levelRank(this.levelIn(p, ns)) >= levelRank(level);
  }

  async #verify(user: string, secret: string, token: string): Promise<AuthResult> {
    await this.#slot();
    try {
      const record = this.#o.users()?.get(user);
      let matched: string | undefined;
      // A user that does not exist costs the same verification, so timing does not tell names apart.
      for (const s of record?.secrets ?? [DUMMY_HASH]) {
        if ((await verifySecret(secret, s)) && record !== undefined) matched = s.hash;
      }
      this.#o.onVerify?.(matched !== undefined);
      if (matched === undefined) return { ok: false, reason: 'WRONGPASS' };
      this.#remember(token, matched);
      return { ok: true, principal: { user, secretHash: matched } };
    } finally {
      this.#release();
    }
  }

  #remember(token: string, hash: string): void {
    if (this.#verified.size >= this.#o.cacheSize) this.#verified.delete(this.#verified.keys().next().value as string);
    this.#verified.set(token, hash);
  }

  #slot(): Promise<void> {
    if (this.#running < this.#o.maxConcurrent) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(); // the slot passes on
    else this.#running--;
  }
}

/** Longest user name and password there can be (shardctl refuses longer ones). */
const MAX_USER_LENGTH = 64;
const MAX_SECRET_LENGTH = 512;
const WRONGPASS: AuthResult = Object.freeze({ ok: false, reason: 'WRONGPASS' });

/** A hash no secret matches in practice, verified for unknown users (default scrypt cost). */
const DUMMY_HASH = { algo: 'scrypt' as const, N: 16384, r: 8, p: 1, salt: 'c2hhcmRjYWNoZS1kdW1teQ==', hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' };
