import type { Authenticator, Principal } from '../../../shared/authenticator';
import type { AccessLevel } from '../../../shared/credentials';
import type { Logger } from '../../../shared/log';
import type { SetCondition } from '../../../shared/protocol';
import type { EntryTypeCode, TypeName } from '../../../shared/collections';
import type { GetResult, ReadPreference, WriteResult } from '../../backend';
import type { Command, OpName, Outcome } from '../commands';
import type { Dispatcher } from '../dispatcher';
import type { MgetResults } from '../../routing/mget';
import type { ObjectFacts } from '../../routing/messages';
import type { FrontName } from '../metrics';
import { toWireError, type WireError } from '../wire-error';
import type { Session } from './context';
import { RespCommandError, RespMessages, respErrorLine } from './errors';
import type { CommandTimer } from './monitor';
import { error } from './reply';
import type { ReplySink } from './reply-queue';

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

/** What the door needs: the shared dispatcher, a logger, the INFO read counters and the slow log's timer. */
export interface RespDoorOptions {
  dispatcher: Dispatcher;
  log: Logger;
  reads: ReadCounts;
  /** Absent: commands are not timed (tests of the door alone). */
  timer?: CommandTimer;
}

/** The connection a door serves, as its calls need it: its principal, and who it is for the slow log. */
export type DoorClient = Pick<Session, 'principal' | 'addr' | 'name' | 'ns'>;

/** Turns a command's outcome into its RESP reply; may throw a RespCommandError (its line is the reply). */
export type Encode<K extends OpName> = (outcome: Extract<Outcome, { op: K }>, door: RespDoor) => Buffer;

/**
 * The RESP front's one way to the data plane: every operation goes through the shared
 * `Dispatcher` (topology check, grants, QPS, metrics, error normalisation), as on the other fronts.
 * `call` is the hot path: the dispatcher's callback fills the command's reply slot with the
 * encoded outcome or the error line, with no promise in between. The promise methods serve the
 * commands made of several operations (SET ... GET, GETDEL, MSET, ...): each resolves the
 * operation's result or rejects with a `RespCommandError` already translated by the error table.
 */
export class RespDoor {
  readonly #o: RespDoorOptions;
  readonly #who: DoorClient | undefined;

  /** `who`: the connection whose principal the door's calls carry (see `forConnection`). */
  constructor(options: RespDoorOptions, who?: DoorClient) {
    this.#o = options;
    this.#who = who;
  }

  /** The same door for one connection: its calls carry that connection's principal (one object per connection). */
  forConnection(who: DoorClient): RespDoor {
    return new RespDoor(this.#o, who);
  }

  /**
   * While auth is on, throws Redis's NOPERM for `command` unless the connection's user holds
   * `level` on `ns` (`*`: every namespace, a cluster admin); with auth off, does nothing.
   */
  require(level: AccessLevel, ns: string, command: string): void {
    try {
      this.#o.dispatcher.authorize(this.#who?.principal, ns, level);
    } catch {
      throw new RespCommandError(RespMessages.noPermCommand(this.#who?.principal?.user ?? 'default', command));
    }
  }

  /** The authenticator, when the proxy checks credentials. */
  get auth(): Authenticator | undefined {
    return this.#o.dispatcher.auth;
  }

  /** Whether clients must authenticate now. */
  get authRequired(): boolean {
    return this.#o.dispatcher.authRequired;
  }

  /**
   * Runs `cmd` and fills `sink` with `encode(outcome)`, or with the error's line. The command's
   * time is the dispatcher's (one comparison here; the slow log only past its threshold).
   */
  call<K extends OpName>(cmd: Command & { op: K }, sink: ReplySink, encode: Encode<K>): void {
    this.#o.dispatcher.dispatch(RESP_FRONT, cmd, (reply) => {
      const timer = this.#o.timer;
      if (timer !== undefined && reply.seconds >= timer.floorSeconds && sink.args !== undefined && this.#who !== undefined) timer.observe(sink.args, reply.seconds, this.#who, Date.now());
      if (!reply.ok) return sink.fill(error(respErrorLine(reply.error)));
      let bytes: Buffer;
      try {
        bytes = encode(reply.outcome as Extract<Outcome, { op: K }>, this);
      } catch (err) {
        bytes = err instanceof RespCommandError ? error(err.line) : this.#internal(err, cmd.op);
      }
      sink.fill(bytes);
    }, this.#who?.principal);
  }

  /** Counts reads for INFO. */
  count(hits: number, misses: number): void {
    this.#o.reads.hits += hits;
    this.#o.reads.misses += misses;
  }

  /** The per-key error of an MGET, translated (the first failed key fails the command, as one shard's failure). */
  translate(err: Error): RespCommandError {
    return this.#translate(toWireError(err, (e) => this.#o.log.error({ err: e }, 'unexpected failure of one key in MGET')));
  }

  get(ns: string, key: string, pref?: ReadPreference): Promise<GetResult> {
    return this.#run({ op: 'get', ns, key, pref }, 'get').then((o) => {
      this.count(o.result.hit ? 1 : 0, o.result.hit ? 0 : 1);
      return o.result;
    });
  }

  /** Results in key order; the first key whose shard failed fails the whole call. */
  async mget(ns: string, keys: string[]): Promise<GetResult[]> {
    return countedHits((await this.#run({ op: 'mget', ns, keys }, 'mget')).results, this).toArray() as GetResult[];
  }

  /**
   * A write; `ttlMs` undefined = the namespace default, KEEP_TTL keeps the expiry; `cond` NX/XX
   * writes only if the key is missing / exists (undefined when the condition failed).
   */
  set(ns: string, key: string, value: Buffer, ttlMs?: number, cond?: SetCondition): Promise<WriteResult | undefined> {
    return this.#run({ op: 'set', ns, key, value, flags: 0, ttlMs, cond }, 'set').then((o) => o.result);
  }

  async delete(ns: string, key: string): Promise<boolean> {
    return (await this.#run({ op: 'delete', ns, key }, 'delete')).deleted;
  }

  /** ttlMs <= 0 deletes the key; resolves whether it existed. */
  async expire(ns: string, key: string, ttlMs: number): Promise<boolean> {
    return (await this.#run({ op: 'expire', ns, key, ttlMs }, 'expire')).updated;
  }

  /** Removes the key's expiry; resolves whether it had one. */
  async persist(ns: string, key: string): Promise<boolean> {
    return (await this.#run({ op: 'persist', ns, key }, 'persist')).updated;
  }

  /**
   * One SCAN page from the node owning `slot`: its keys (only those holding `type`, an EntryType,
   * when given) and the slot to continue from (SLOT_COUNT: done).
   */
  async scan(ns: string, slot: number, count: number, type?: EntryTypeCode): Promise<{ next: number; keys: string[] }> {
    const { next, keys } = await this.#run(type === undefined ? { op: 'scan', ns, slot, count } : { op: 'scan', ns, slot, count, type }, 'scan');
    return { next, keys };
  }

  /** What `key` holds: `none`, `string`, `hash` or `set`. */
  async type(ns: string, key: string): Promise<TypeName> {
    return (await this.#run({ op: 'type', ns, key }, 'type')).type;
  }

  /** `key`'s time left in ms on its node, whatever it holds: -1 no expiry, -2 missing. */
  async ttl(ns: string, key: string): Promise<number> {
    return (await this.#run({ op: 'ttl', ns, key }, 'ttl')).ttlMs;
  }

  /** How many of `keys` exist, whatever they hold (a key named twice counts twice); `touch`: each found counts as accessed (TOUCH). */
  async exists(ns: string, keys: string[], touch = false): Promise<number> {
    return (await this.#run({ op: 'exists', ns, keys, touch }, 'exists')).count;
  }

  /** The namespace's live keys over every shard. */
  async dbsize(ns: string): Promise<number> {
    return (await this.#run({ op: 'dbsize', ns }, 'dbsize')).count;
  }

  /** A random live key of the namespace, null when it has none. */
  async randomKey(ns: string): Promise<string | null> {
    return (await this.#run({ op: 'randomkey', ns }, 'randomkey')).key;
  }

  /** Hides every key of the namespace on every shard (the `admin` grant while auth is on). */
  async flush(ns: string): Promise<void> {
    await this.#run({ op: 'invalidate', ns }, 'invalidate');
  }

  /** The accounted bytes of `key`'s entry on its node (MEMORY USAGE), null when it is missing. */
  async memoryUsage(ns: string, key: string): Promise<number | null> {
    return (await this.#run({ op: 'memory_usage', ns, key }, 'memory_usage')).bytes;
  }

  /** What `key`'s node tells of its entry for OBJECT (encoding, LFU counter, idle seconds; -1: not tracked), null when it is missing. */
  async object(ns: string, key: string): Promise<ObjectFacts | null> {
    return (await this.#run({ op: 'object', ns, key }, 'object')).facts;
  }

  /** The outcome of `cmd`, or a rejection with its translated error (a `then`, not async: once per command). */
  #run<K extends OpName>(cmd: Command & { op: K }, op: K): Promise<Extract<Outcome, { op: K }>> {
    return this.#o.dispatcher.run(RESP_FRONT, cmd, this.#who?.principal).then((reply) => {
      if (!reply.ok) throw this.#translate(reply.error);
      if (reply.outcome.op !== op) throw new RespCommandError(`ERR internal error: ${op} answered as ${reply.outcome.op}`);
      return reply.outcome as Extract<Outcome, { op: K }>;
    });
  }

  #translate(error: WireError): RespCommandError {
    return new RespCommandError(respErrorLine(error), error.code);
  }

  #internal(err: unknown, op: string): Buffer {
    this.#o.log.error({ err, op }, 'unexpected failure encoding a RESP reply');
    return error(RespMessages.internal);
  }
}

/** MGET results with their hits and misses counted for INFO; throws the first per-key error, translated. */
export function countedHits(results: MgetResults, door: RespDoor): MgetResults {
  let hits = 0;
  for (let i = 0; i < results.length; i++) {
    const failed = results.errorAt(i);
    if (failed !== undefined) throw door.translate(failed);
    if (results.valueLength(i) >= 0) hits++;
  }
  door.count(hits, results.length - hits);
  return results;
}
