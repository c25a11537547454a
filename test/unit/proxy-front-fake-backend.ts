import { slotOf } from '../../shared/slot';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';
import { buildSnapshot, type TopologySnapshot } from '../../shared/topology/snapshot';
import type { CacheBackend, GetResult, ReadPreference, RouteInfo, SetRequest, WriteResult } from '../../proxy/backend';
import { ProxyError, ProxyErrorCode, type ProxyErrorCodeName } from '../../proxy/errors';
import type { Command, Outcome, OutcomeDone } from '../../proxy/front/commands';
import type { CollReply } from '../../shared/collections';
import { SetCond } from '../../shared/protocol';
import { MgetResults } from '../../proxy/routing/mget';
import { ENTRY_OVERHEAD } from '../../storage-node/store/keyspace';
import { stringEncoding } from '../../storage-node/store/store';

interface Entry {
  value: Buffer;
  version: number;
  expiresAt: number;
  flags: number;
  tags: string[];
}

/** A snapshot of an initialised two-shard cluster (what a proxy needs to serve). */
export function twoShardSnapshot(): TopologySnapshot {
  const keys = clusterKeys('fake');
  const kv = (key: string, value: unknown, rev: number) => ({ key, value: JSON.stringify(value), createRevision: rev, modRevision: rev });
  return buildSnapshot(keys, [
    kv(keys.config, { slots: 16384, shards: 2, replicas: 1, leaseTtlSeconds: 3, createdAt: 1 }, 2),
    kv(keys.slotmap, evenSlotMap(2), 3),
    kv(keys.node('a'), { addr: '127.0.0.1:7000', shardId: 0, zone: '' }, 4),
    kv(keys.node('b'), { addr: '127.0.0.1:7001', shardId: 1, zone: '' }, 5),
    kv(keys.primary(0), { nodeId: 'a', addr: '127.0.0.1:7000' }, 6),
    kv(keys.primary(1), { nodeId: 'b', addr: '127.0.0.1:7001' }, 7),
  ], 7);
}

/**
 * An in-memory CacheBackend for testing the fronts without a cluster. Keys named `fail:<CODE>`
 * reject with that ProxyError code; `slow:<ms>` answers after that many ms (for pipelining order).
 * `calls` records every call (op, namespace, read preference).
 */
export class FakeBackend implements CacheBackend {
  readonly entries = new Map<string, Entry>();
  readonly calls: Array<{ op: string; ns: string; pref?: ReadPreference }> = [];
  snapshot: TopologySnapshot | undefined = twoShardSnapshot();
  /** Every hash or set command run, in order. */
  readonly colls: Array<Extract<Command, { op: 'coll' }>> = [];
  /** The reply of a hash or set command (undefined: such commands fail). */
  collAnswer: ((cmd: Extract<Command, { op: 'coll' }>) => CollReply) | undefined;
  #version = 0;

  async get(ns: string, key: string, pref: ReadPreference): Promise<GetResult> {
    this.calls.push({ op: 'get', ns, pref });
    await this.#behave(key);
    return this.#read(ns, key);
  }

  async mget(ns: string, keys: readonly string[], pref: ReadPreference): Promise<Array<GetResult | Error>> {
    this.calls.push({ op: 'mget', ns, pref });
    return Promise.all(keys.map((k) => this.#behave(k).then(() => this.#read(ns, k), (err: Error) => err)));
  }

  async set(ns: string, key: string, req: SetRequest): Promise<WriteResult | undefined> {
    this.calls.push({ op: 'set', ns });
    await this.#behave(key);
    const current = this.#live(ns, key);
    if ((req.cond === SetCond.NX && current !== undefined) || (req.cond === SetCond.XX && current === undefined)) return undefined;
    if (req.ifVersion !== undefined && current?.version !== req.ifVersion) {
      throw new ProxyError(ProxyErrorCode.VERSION_CONFLICT, 'version does not match', { currentVersion: current?.version ?? 0 });
    }
    const expiresAt = req.ttlMs ? Date.now() + req.ttlMs : 0;
    const entry: Entry = { value: Buffer.from(req.value), version: ++this.#version, expiresAt, flags: req.flags ?? 0, tags: req.tags ?? [] };
    this.entries.set(`${ns}\n${key}`, entry);
    return { version: entry.version, expiresAt };
  }

  async delete(ns: string, key: string): Promise<boolean> {
    this.calls.push({ op: 'delete', ns });
    await this.#behave(key);
    return this.entries.delete(`${ns}\n${key}`);
  }

  async incr(ns: string, key: string, delta: number | bigint, ttlMsOnCreate?: number): Promise<{ value: number | bigint; version: number }> {
    this.calls.push({ op: 'incr', ns });
    await this.#behave(key);
    const current = this.#live(ns, key);
    const text = current?.value.toString() ?? '0';
    if (!/^-?\d+$/.test(text)) throw new ProxyError(ProxyErrorCode.NOT_INTEGER, 'value is not an integer');
    const sum = BigInt(text) + BigInt(delta);
    if (sum > 2n ** 63n - 1n || sum < -(2n ** 63n)) throw new ProxyError(ProxyErrorCode.OVERFLOW, 'increment would overflow');
    const entry: Entry = { value: Buffer.from(sum.toString()), version: ++this.#version, expiresAt: current?.expiresAt ?? (ttlMsOnCreate ? Date.now() + ttlMsOnCreate : 0), flags: current?.flags ?? 0, tags: current?.tags ?? [] };
    this.entries.set(`${ns}\n${key}`, entry);
    const safe = sum >= BigInt(Number.MIN_SAFE_INTEGER) && sum <= BigInt(Number.MAX_SAFE_INTEGER);
    return { value: safe ? Number(sum) : sum, version: entry.version };
  }

  async expire(ns: string, key: string, ttlMs: number): Promise<boolean> {
    this.calls.push({ op: 'expire', ns });
    const entry = this.#live(ns, key);
    if (!entry) return false;
    if (ttlMs <= 0) this.entries.delete(`${ns}\n${key}`);
    else entry.expiresAt = Date.now() + ttlMs;
    return true;
  }

  async persist(ns: string, key: string): Promise<boolean> {
    this.calls.push({ op: 'persist', ns });
    const entry = this.#live(ns, key);
    if (!entry || entry.expiresAt === 0) return false;
    entry.expiresAt = 0;
    return true;
  }

  /** CacheBackend's one entry: the command's promise method above, as a callback. */
  run(cmd: Command, pref: ReadPreference, done: OutcomeDone): void {
    const outcome = (): Promise<Outcome> => {
      switch (cmd.op) {
        case 'get': return this.get(cmd.ns, cmd.key, pref).then((result) => ({ op: 'get', result }));
        case 'mget': return this.mget(cmd.ns, cmd.keys, pref).then((results) => ({ op: 'mget', results: MgetResults.of(results) }));
        case 'set': return this.set(cmd.ns, cmd.key, cmd).then((result) => ({ op: 'set', result }));
        case 'delete': return this.delete(cmd.ns, cmd.key).then((deleted) => ({ op: 'delete', deleted }));
        case 'incr': return this.incr(cmd.ns, cmd.key, cmd.delta, cmd.ttlMs).then((r) => ({ op: 'incr', ...r }));
        case 'expire': return this.expire(cmd.ns, cmd.key, cmd.ttlMs).then((updated) => ({ op: 'expire', updated }));
        case 'persist': return this.persist(cmd.ns, cmd.key).then((updated) => ({ op: 'persist', updated }));
        case 'invalidate': return this.invalidate(cmd.ns, cmd.tag).then(() => ({ op: 'invalidate' }));
        case 'scan': return Promise.resolve({ op: 'scan', ...this.scan(cmd.ns, cmd.slot, cmd.count) });
        case 'dbsize': {
          const keys = this.#liveKeys(cmd.ns);
          return Promise.resolve({ op: 'dbsize', count: keys.length, expires: keys.filter((k) => this.#live(cmd.ns, k)?.expiresAt !== 0).length });
        }
        case 'randomkey': return Promise.resolve({ op: 'randomkey', key: this.#liveKeys(cmd.ns)[0] ?? null });
        case 'memory_usage': {
          // The node's accounting (storage-node/store/keyspace.ts entrySize) without tags: overhead + key + value.
          const e = this.#live(cmd.ns, cmd.key);
          return Promise.resolve({ op: 'memory_usage', bytes: e === undefined ? null : ENTRY_OVERHEAD + Buffer.byteLength(cmd.key) + e.value.length });
        }
        case 'object': {
          // The node's rule for the encoding; recency and LFU are the store's (test/unit/store-object.test.ts).
          const e = this.#live(cmd.ns, cmd.key);
          return Promise.resolve({ op: 'object', facts: e === undefined ? null : { encoding: stringEncoding(e.value.toString('latin1')), freq: -1, idleSeconds: 0 } });
        }
        case 'type': return Promise.resolve({ op: 'type', type: this.#live(cmd.ns, cmd.key) === undefined ? 'none' : 'string' });
        case 'ttl': {
          const e = this.#live(cmd.ns, cmd.key);
          return Promise.resolve({ op: 'ttl', ttlMs: e === undefined ? -2 : e.expiresAt === 0 ? -1 : Math.max(0, e.expiresAt - Date.now()) });
        }
        case 'exists': return Promise.resolve({ op: 'exists', count: cmd.keys.filter((k) => this.#live(cmd.ns, k) !== undefined).length });
        case 'coll': {
          // Hashes and sets run on a real node (test/integration/resp-hashes, resp-sets); tests of the fronts answer through `collAnswer`.
          this.colls.push(cmd);
          const answer = this.collAnswer;
          if (answer === undefined) return Promise.reject(new Error('coll is not served by the fake backend'));
          return this.#behave(cmd.key).then(() => ({ op: 'coll', reply: answer(cmd), version: 0 }));
        }
        case 'append': case 'setrange': case 'setget': case 'incrbyfloat': case 'expireat': case 'rename': case 'copy': case 'msetnx':
          // The string read-modify-writes run on a real node (test/unit/store-strings.test.ts, test/integration/resp-strings.test.ts).
          return Promise.reject(new Error(`${cmd.op} is not served by the fake backend`));
        case 'ping': return Promise.resolve({ op: 'ping' });
      }
    };
    outcome().then((o) => done(null, o), done);
  }

  /** The node's SCAN over one shard owning every slot: whole slots from `slot` on until `count` keys. */
  scan(ns: string, slot: number, count: number): { next: number; keys: string[] } {
    this.calls.push({ op: 'scan', ns });
    const bySlot = new Map<number, string[]>();
    for (const key of this.#liveKeys(ns)) {
      const s = slotOf(ns, key);
      if (s >= slot) bySlot.set(s, [...(bySlot.get(s) ?? []), key]);
    }
    const keys: string[] = [];
    for (const s of [...bySlot.keys()].sort((a, b) => a - b)) {
      if (keys.length >= count) return { next: s, keys };
      keys.push(...bySlot.get(s)!);
    }
    return { next: 16384, keys };
  }

  #liveKeys(ns: string): string[] {
    const keys: string[] = [];
    for (const k of [...this.entries.keys()]) if (k.startsWith(`${ns}\n`) && this.#live(ns, k.slice(ns.length + 1)) !== undefined) keys.push(k.slice(ns.length + 1));
    return keys;
  }

  async invalidate(ns: string, tag?: string): Promise<void> {
    this.calls.push({ op: 'invalidate', ns });
    for (const [k, e] of this.entries) if (k.startsWith(`${ns}\n`) && (tag === undefined || e.tags.includes(tag))) this.entries.delete(k);
  }

  route(ns: string, key: string): RouteInfo {
    const slot = slotOf(ns, key);
    const shardId = this.snapshot!.slotShard[slot];
    const view = this.snapshot!.shards.get(shardId)!;
    const primary = view.primary ? { nodeId: view.primary.nodeId, addr: view.primary.addr, epoch: view.primary.epoch } : null;
    return { namespace: ns, key, slot, shardId, primary, replicas: view.replicas.map((id) => ({ nodeId: id, addr: this.snapshot!.nodes.get(id)!.addr })) };
  }

  #live(ns: string, key: string): Entry | undefined {
    const e = this.entries.get(`${ns}\n${key}`);
    if (e && e.expiresAt !== 0 && e.expiresAt <= Date.now()) {
      this.entries.delete(`${ns}\n${key}`);
      return undefined;
    }
    return e;
  }

  #read(ns: string, key: string): GetResult {
    const e = this.#live(ns, key);
    return e ? { hit: true, value: e.value, version: e.version, expiresAt: e.expiresAt, flags: e.flags } : { hit: false };
  }

  async #behave(key: string): Promise<void> {
    const fail = /^fail:([A-Z_]+)$/.exec(key);
    if (fail) throw fail[1] === 'BUG' ? new TypeError('boom') : new ProxyError(fail[1] as ProxyErrorCodeName, `failing as asked (${fail[1]})`);
    const slow = /^slow:(\d+)$/.exec(key);
    if (slow) await new Promise((r) => setTimeout(r, Number(slow[1])));
  }
}
