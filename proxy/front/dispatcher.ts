import { performance } from 'node:perf_hooks';
import type { Authenticator, Principal } from '../../shared/authenticator';
import { grantedLevel, levelRank, type AccessLevel } from '../../shared/credentials';
import type { Logger } from '../../shared/log';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { snapshotOf, type CacheBackend, type ReadPreference } from '../backend';
import { ProxyError, ProxyErrorCode } from '../errors';
import type { NamespaceLimiter } from '../limits/namespace-limiter';
import { readPreferenceFor } from '../policy';
import { FRONT_OPS, namespaceOf, type Command, type Outcome, type ReadPreferenceResolver } from './commands';
import type { FrontMetrics, FrontName } from './metrics';
import { toWireError, type WireError } from './wire-error';

/**
 * A command's reply as a value: an outcome or the error to put on the wire, and the command's
 * time in the dispatcher in seconds (the one measurement of the metrics, passed on so a front's
 * slow log needs no clock read of its own).
 */
export type Reply = { ok: true; outcome: Outcome; seconds: number } | { ok: false; error: WireError; seconds: number };

export interface DispatcherOptions {
  backend: CacheBackend;
  metrics: FrontMetrics;
  log: Logger;
  /** Default: the client's choice, else the namespace policy's, else primary (`readPreferenceFor`). */
  readPreference?: ReadPreferenceResolver;
  /** Per-namespace QPS limits (`proxy/limits/`); none when absent. */
  limiter?: NamespaceLimiter;
  /** Credentials and grants while the cluster requires auth; absent: every client may do everything. */
  auth?: Authenticator;
}

/**
 * The one door from the fronts to the data plane: checks that a topology is loaded, that the
 * client's principal may run the command on its namespace (while auth is on), and its QPS share;
 * runs the command, counts it (in flight, latency, code, hits/misses) and turns every failure into
 * a `WireError`. Never rejects. Owns no state besides the metrics it updates.
 */
export class Dispatcher {
  readonly #backend: CacheBackend;
  readonly #metrics: FrontMetrics;
  readonly #log: Logger;
  readonly #pref: ReadPreferenceResolver;
  readonly #limiter: NamespaceLimiter | undefined;
  readonly #auth: Authenticator | undefined;

  constructor(options: DispatcherOptions) {
    this.#auth = options.auth;
    this.#backend = options.backend;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#limiter = options.limiter;
    this.#pref = options.readPreference ?? ((ns, requested) => readPreferenceFor(this.#snapshot(), ns, requested));
  }

  /** Whether the data plane routes by a snapshot of an initialised cluster. */
  get ready(): boolean {
    return this.#snapshot()?.config !== undefined;
  }

  #snapshot(): TopologySnapshot | undefined {
    return snapshotOf(this.#backend);
  }

  /**
   * Charges `keys` tokens (one per key, all or none) to `ns`; throws RATE_LIMITED when it is over
   * this proxy's share of its QPS limit (`run` calls it; so does a front that calls the backend itself).
   */
  admit(ns: string, keys = 1): void {
    this.#limiter?.admit(ns, this.#snapshot(), keys);
  }

  /** The authenticator, when the proxy checks credentials (the fronts read bearer tokens and AUTH through it). */
  get auth(): Authenticator | undefined {
    return this.#auth;
  }

  /** Whether clients must authenticate now (the cluster's `config.auth`). */
  get authRequired(): boolean {
    return this.#auth?.enabled === true;
  }

  /**
   * Throws NOAUTH when auth is on and there is no principal, NOPERM when its grants do not reach
   * `level` on `ns` (or it no longer holds: a removed user, a rotated-out secret).
   */
  authorize(principal: Principal | undefined, ns: string, level: AccessLevel | undefined): void {
    const auth = this.#auth;
    if (level === undefined || auth === undefined || !auth.enabled) return;
    if (principal === undefined) throw new ProxyError(ProxyErrorCode.NOAUTH, 'authentication required: send credentials (Authorization: Bearer <user>:<password>, or AUTH)');
    const user = auth.record(principal);
    if (user === undefined) throw new ProxyError(ProxyErrorCode.NOAUTH, 'the credentials of this connection are no longer valid (user removed or password changed); authenticate again');
    if (levelRank(grantedLevel(user.grants, ns)) < levelRank(level)) throw new ProxyError(ProxyErrorCode.NOPERM, `user ${principal.user} has no ${level} grant on namespace ${ns}`);
  }

  /** Runs `cmd` for `principal` and resolves its reply value (never rejects). */
  run(front: FrontName, cmd: Command, principal?: Principal): Promise<Reply> {
    return new Promise((resolve) => this.dispatch(front, cmd, resolve, principal));
  }

  /**
   * Runs `cmd` and calls `done` once with its reply value (never throws). The callback form of
   * `run`, for fronts that only pass the reply on: one `then` per request in all (on the
   * backend's promise), where an awaited layer per step would cost a promise and a microtask
   * turn each, once per request of every front.
   */
  dispatch(front: FrontName, cmd: Command, done: (reply: Reply) => void, principal?: Principal): void {
    const started = performance.now();
    this.#metrics.started(front);
    let pref: ReadPreference = 'primary';
    try {
      if (cmd.op !== 'ping') {
        if (!this.ready) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, 'no topology yet: the proxy has not loaded an initialised cluster from etcd');
        const op = FRONT_OPS[cmd.op] as { level(c: Command): AccessLevel | undefined; tokens(c: Command): number };
        this.authorize(principal, cmd.ns, op.level(cmd));
        this.admit(cmd.ns, op.tokens(cmd));
        if (cmd.op === 'get' || cmd.op === 'mget' || cmd.op === 'coll') pref = this.#pref(cmd.ns, cmd.pref);
        else if (cmd.op === 'type' || cmd.op === 'ttl' || cmd.op === 'exists') pref = this.#pref(cmd.ns, undefined);
      }
    } catch (err) {
      done(this.#failed(front, cmd, started, err));
      return;
    }
    this.#backend.run(cmd, pref, (err, outcome) => {
      let reply: Reply;
      if (err != null) reply = this.#failed(front, cmd, started, err);
      else {
        try {
          reply = this.#succeeded(front, cmd, started, outcome!);
        } catch (failure) {
          reply = this.#failed(front, cmd, started, failure);
        }
      }
      try {
        done(reply);
      } catch (failure) {
        // A front's bug stays in the front: thrown back into the data plane, it would be taken
        // for the command's own failure and answered a second time.
        this.#log.error({ err: failure, op: cmd.op }, 'a front failed while sending its reply');
      }
    });
  }

  #succeeded(front: FrontName, cmd: Command, started: number, outcome: Outcome): Reply {
    const ns = namespaceOf(cmd);
    this.#countReads(ns, outcome);
    const seconds = (performance.now() - started) / 1000;
    this.#metrics.finished(front, cmd.op, ns, 'ok', seconds);
    return { ok: true, outcome, seconds };
  }

  #failed(front: FrontName, cmd: Command, started: number, err: unknown): Reply {
    const error = toWireError(err, (e) => this.#log.error({ err: e, op: cmd.op }, 'unexpected failure serving a request'));
    const seconds = (performance.now() - started) / 1000;
    this.#metrics.finished(front, cmd.op, namespaceOf(cmd), error.code, seconds);
    return { ok: false, error, seconds };
  }

  #countReads(ns: string, outcome: Outcome): void {
    if (outcome.op === 'get') this.#metrics.reads(ns, outcome.result.hit ? 1 : 0, outcome.result.hit ? 0 : 1);
    else if (outcome.op === 'mget') {
      let hits = 0;
      let misses = 0;
      const results = outcome.results;
      for (let i = 0; i < results.length; i++) {
        if (results.errorAt(i) !== undefined) continue;
        if (results.valueLength(i) >= 0) hits++;
        else misses++;
      }
      this.#metrics.reads(ns, hits, misses);
    }
  }
}
