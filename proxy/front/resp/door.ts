import { performance } from 'node:perf_hooks';
import type { Authenticator, Principal } from '../../../shared/authenticator';
import type { Logger } from '../../../shared/log';
import type { SetCondition } from '../../../shared/protocol';
import type { CacheBackend, GetResult, ReadPreference, WriteResult } from '../../backend';
import { ProxyError, ProxyErrorCode } from '../../errors';
import type { Command, Outcome } from '../commands';
import type { Dispatcher } from '../dispatcher';
import type { FrontMetrics, FrontName } from '../metrics';
import { toWireError, type WireError } from '../wire-error';
import { RespCommandError, respErrorLine } from './errors';

/**
 * The RESP front's metrics label. `FrontName` names the uWS fronts only; prom-client takes any
 * label value, so RESP requests are counted under `front="resp"` in the same series.
 */
export const RESP_FRONT: FrontName = 'resp';

/** Counts of reads for INFO's keyspace_hits / keyspace_misses. */
export interface ReadCounts {
  hits: number;
  misses: number;
}

/** What the door needs: the shared dispatcher, the backend for conditional SETs, metrics and the INFO read counters. */
export interface RespDoorOptions {
  dispatcher: Dispatcher;
  /** Only for what the command layer cannot say: a SET with an NX/XX condition. */
  backend: CacheBackend;
  metrics: FrontMetrics;
  log: Logger;
  reads: ReadCounts;
}

/**
 * The RESP front's one way to the data plane. Every operation goes through the shared
 * `Dispatcher` (topology check, policy, metrics, error normalisation) except a conditional SET,
 * which the command layer has no field for: that one calls the backend with the same check,
 * counting and normalisation. Each method resolves the operation's result or rejects with a
 * `RespCommandError` already translated by the error table.
 */
export class RespDoor {
  readonly #o: RespDoorOptions;
  readonly #who: { principal: Principal | undefined } | undefined;

  /** `who`: the connection whose principal the door's calls carry (see `forConnection`). */
  constructor(options: RespDoorOptions, who?: { principal: Principal | undefined }) {
    this.#o = options;
    this.#who = who;
  }

  /** The same door for one connection: its calls carry that connection's principal (one object per connection). */
  forConnection(who: { principal: Principal | undefined }): RespDoor {
    return new RespDoor(this.#o, who);
  }

  /** The authenticator, when the proxy checks credentials. */
  get auth(): Authenticator | undefined {
    return this.#o.dispatcher.auth;
  }

  /** Whether clients must authenticate now. */
  get authRequired(): boolean {
    return this.#o.dispatcher.authRequired;
  }

  get(ns: string, key: string, pref?: ReadPreference): Promise<GetResult> {
    return this.#run({ op: 'get', ns, key, pref }, 'get').then(this.#counted);
  }

  readonly #counted = ({ result }: { result: GetResult }): GetResult => {
    this.#count(result.hit ? 1 : 0, result.hit ? 0 : 1);
    return result;
  };

  /** Results in key order; the first key whose shard failed fails the whole call. */
  async mget(ns: string, keys: string[]): Promise<GetResult[]> {
    const { results } = await this.#run({ op: 'mget', ns, keys }, 'mget');
    const out: GetResult[] = [];
    for (const r of results) {
      if (r instanceof Error) throw this.#translate(toWireError(r, (e) => this.#o.log.error({ err: e }, 'unexpected failure of one key in MGET')));
      out.push(r);
    }
    const hits = out.filter((r) => r.hit).length;
    this.#count(hits, out.length - hits);
    return out;
  }

  /** An unconditional write; `ttlMs` undefined = the namespace default, KEEP_TTL keeps the expiry. */
  set(ns: string, key: string, value: Buffer, ttlMs?: number, flags = 0, ifVersion?: number): Promise<WriteResult | undefined> {
    return this.#run({ op: 'set', ns, key, value, flags, ttlMs, ifVersion }, 'set').then((o) => o.result);
  }

  /** A write only if the key exists (XX) or does not (NX); undefined when the condition failed. */
  async setWhen(ns: string, key: string, value: Buffer, cond: SetCondition, ttlMs?: number): Promise<WriteResult | undefined> {
    const { dispatcher, backend, metrics } = this.#o;
    const started = performance.now();
    metrics.started(RESP_FRONT);
    let code = 'ok';
    try {
      if (!dispatcher.ready) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, 'no topology yet: the proxy has not loaded an initialised cluster from etcd');
      dispatcher.authorize(this.#who?.principal, ns, 'write');
      dispatcher.admit(ns);
      return await backend.set(ns, key, { value, ttlMs, flags: 0, cond });
    } catch (err) {
      const wire = toWireError(err, (e) => this.#o.log.error({ err: e, op: 'set' }, 'unexpected failure serving a request'));
      code = wire.code;
      throw this.#translate(wire);
    } finally {
      metrics.finished(RESP_FRONT, 'set', ns, code, (performance.now() - started) / 1000);
    }
  }

  async delete(ns: string, key: string): Promise<boolean> {
    return (await this.#run({ op: 'delete', ns, key }, 'delete')).deleted;
  }

  incr(ns: string, key: string, delta: number | bigint): Promise<number | bigint> {
    return this.#run({ op: 'incr', ns, key, delta }, 'incr').then((o) => o.value);
  }

  /** ttlMs <= 0 deletes the key; resolves whether it existed. */
  async expire(ns: string, key: string, ttlMs: number): Promise<boolean> {
    return (await this.#run({ op: 'expire', ns, key, ttlMs }, 'expire')).updated;
  }

  /** The outcome of `cmd`, or a rejection with its translated error (a `then`, not async: once per command). */
  #run<Op extends Outcome['op']>(cmd: Command & { op: Op }, op: Op): Promise<Extract<Outcome, { op: Op }>> {
    return this.#o.dispatcher.run(RESP_FRONT, cmd, this.#who?.principal).then((reply) => {
      if (!reply.ok) throw this.#translate(reply.error);
      if (reply.outcome.op !== op) throw new RespCommandError(`ERR internal error: ${op} answered as ${reply.outcome.op}`);
      return reply.outcome as Extract<Outcome, { op: Op }>;
    });
  }

  #translate(error: WireError): RespCommandError {
    return new RespCommandError(respErrorLine(error), error.code);
  }

  #count(hits: number, misses: number): void {
    this.#o.reads.hits += hits;
    this.#o.reads.misses += misses;
  }
}
