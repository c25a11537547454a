import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../../shared/log';
import { FRAME, REGION_INVALIDATE } from '../../shared/ops';
import { Status } from '../../shared/protocol';
import { INVALIDATIONS_PATH, MAX_BATCH_BYTES, MAX_BATCH_ITEMS, type InvalidationBatch, type RegionInvalidation } from '../../shared/regions';
import type { NamespacePolicy, RegionPeer } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { badRequest } from '../../shared/errors';
import { handle, type HandlerContext, type MutationLog, write as writeTarget } from '../handlers';
import type { ReplyWriter } from '../reply-writer';
import { keyArg } from '../validate';
import { RegionSpool } from './spool';
import { VersionTimeline } from './timeline';

/** How often the timeline is sampled and the senders looked at, ms. */
const TICK_MS = 10;
/** The tick of a node in a cluster without regions: only the version timeline is sampled (coarser is safe: see `tickEvery`). */
const IDLE_TICK_MS = 1000;
/** An idle sender's heartbeat (an empty batch saying how far it is). */
const HEARTBEAT_MS = 200;
/** Deadline of one batch request. */
const REQUEST_TIMEOUT_MS = 5000;
/** Retry backoff after a failed batch: doubling from 50 ms to 1 s (a healed link is used within a second; a retry a second per peer costs nothing). */
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 1000;
/** Batch sizes are counted in these buckets (items per batch), for the figures. */
export const BATCH_BUCKETS = [0, 1, 10, 100, 1000] as const;

/** One peer's sender-side figures (STATS, /metrics, the node's offsets record in etcd). */
export interface RegionFigures {
  peer: string;
  /** Invalidations waiting for the peer's acknowledgement. */
  depth: number;
  /** Age of the oldest one, ms (0: none). */
  oldestMs: number;
  /** Invalidations the peer acknowledged. */
  sent: number;
  /** Times the spool spilled into wholesale invalidations. */
  overflows: number;
  /** Batches sent and failed. */
  batches: number;
  failed: number;
  /** Batches by size: how many had at most BATCH_BUCKETS[i] items (cumulative counts not kept: one count per bucket). */
  batchSizes: number[];
  lastError: string | null;
}

interface Sender {
  peer: RegionPeer;
  spool: RegionSpool;
  inFlight: boolean;
  attempt: number;
  notBefore: number;
  lastSentAt: number;
  batches: number;
  failed: number;
  batchSizes: number[];
  lastError: string | null;
  /** When a failed batch was last logged. */
  loggedAt: number;
}

export interface RegionOptions {
  nodeId: string;
  dataDir: string | undefined;
  spoolMax: number;
  /** The region secret (`$SHARDCACHE_REGION_SECRET`); undefined: invalidations are spooled but not sent. */
  secret: string | undefined;
  isPrimary: () => boolean;
  log: Logger;
  now?: () => number;
}

/**
 * Regions on the storage node (issue 18; docs/operations.md "Regions"): the sending side of the
 * invalidation stream and the guard of the receiving side.
 *
 *   primary's write in a `replicated: invalidate` namespace ─► MutationLog (wrapped here)
 *     ─► one invalidation per peer region (key, tag, or namespace; the time it was applied)
 *     ─► RegionSpool (memory + <data-dir>/regions/<peer>.spool, on disk before the reply leaves)
 *     ─► sender: batches of up to 1000, one in flight per peer, POST to the peer's proxies,
 *        retried with backoff until acknowledged; an empty batch every 200 ms as a heartbeat
 *
 *   peer's invalidation (REGION_INVALIDATE from this region's proxy) ─► delete the entry unless it
 *     was written here after the invalidated write (VersionTimeline), replicated as a delete,
 *     never shipped on (nor an INVALIDATE carrying `fromRegion`)
 *
 * Every node sends its own spool (a primary demoted, or restarted, still drains what it spooled);
 * only a primary adds to it.
 */
export class RegionRuntime {
  readonly timeline = new VersionTimeline();
  readonly #ctx: HandlerContext;
  readonly #o: RegionOptions;
  readonly #now: () => number;
  readonly #senders = new Map<string, Sender>();
  /** Replicated namespaces → the peers that get them (null: every peer). */
  #replicated = new Map<string, readonly string[] | null>();
  #self: string | undefined;
  /** Set while a peer's invalidation is applied: its mutations are not shipped on. */
  #fromPeer = false;
  #timer: NodeJS.Timeout | undefined;
  #tickMs = 0;
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 2 });
  #secretWarned = false;
  #closed = false;

  constructor(ctx: HandlerContext, options: RegionOptions) {
    this.#ctx = ctx;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    ctx.repl = this.#wrap(ctx.repl);
    this.#tickEvery(IDLE_TICK_MS);
  }

  /**
   * Ticks every `ms`: TICK_MS once the cluster has regions, IDLE_TICK_MS before (a node woken a
   * hundred times a second for nothing cost ~1 % of a core per process). The version timeline
   * sampled at IDLE_TICK_MS before regions exist can only date a write earlier than it was, so an
   * invalidation from a peer removes such an entry rather than keeping it.
   */
  #tickEvery(ms: number): void {
    if (this.#tickMs === ms || this.#closed) return;
    clearInterval(this.#timer);
    this.#tickMs = ms;
    this.#timer = setInterval(() => this.#tick(), ms);
    this.#timer.unref();
  }

  /** This region's name, its peers and which namespaces ship invalidations, from a topology snapshot. */
  apply(snapshot: Pick<TopologySnapshot, 'region' | 'regions' | 'namespaces'>): void {
    this.#self = snapshot.region?.name;
    const replicated = new Map<string, readonly string[] | null>();
    for (const [ns, policy] of snapshot.namespaces) if (isReplicated(policy)) replicated.set(ns, policy.regions ?? null);
    this.#replicated = replicated;
    for (const [name, peer] of snapshot.regions) {
      if (name === this.#self) continue;
      const held = this.#senders.get(name);
      if (held !== undefined) held.peer = peer;
      else this.#senders.set(name, this.#newSender(peer));
    }
    // A peer removed from etcd: its spool stays on disk (re-adding the peer sends it) but is no longer sent.
    for (const name of [...this.#senders.keys()]) if (!snapshot.regions.has(name) || name === this.#self) this.#senders.delete(name);
    // A named region receives peers' invalidations even when it sends to none (a peer may list it
    // without it listing the peer): their version guard needs the fine timeline, so it ticks fast.
    this.#tickEvery(this.#self !== undefined || this.#senders.size !== 0 ? TICK_MS : IDLE_TICK_MS);
  }

  /** Whether writes of `ns` ship invalidations (the node's in-place fast path is off for them). */
  get active(): boolean {
    return this.#replicated.size !== 0 && this.#senders.size !== 0;
  }

  /** Writes the spools' new lines to disk; the server calls it before a turn's replies leave. */
  beforeReply(): void {
    for (const s of this.#senders.values()) if (s.spool.unflushed) s.spool.flush();
  }

  /** Sender-side figures per peer. */
  figures(): RegionFigures[] {
    const now = this.#now();
    return [...this.#senders.values()].map((s) => ({
      peer: s.peer.name, depth: s.spool.depth, oldestMs: s.spool.depth === 0 ? 0 : Math.max(0, now - s.spool.oldestAt), sent: s.spool.sent, overflows: s.spool.overflows,
      batches: s.batches, failed: s.failed, batchSizes: [...s.batchSizes], lastError: s.spool.diskError ?? s.lastError,
    }));
  }

  /**
   * REGION_INVALIDATE: removes the entry unless it was written here after the peer's write
   * (`at`). Answers `deleted`.
   */
  regionInvalidate(m: unknown[], out: ReplyWriter): void {
    const ctx = this.#ctx;
    const ns = writeTarget(m, ctx);
    const key = keyArg(m[REGION_INVALIDATE.at.key]);
    const at = m[REGION_INVALIDATE.at.at];
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) throw badRequest('at must be a time in ms');
    this.#syncFloor();
    const meta = ctx.store.replication.peekMeta(ns, key);
    let deleted = false;
    if (meta !== undefined && this.timeline.writtenBefore(meta.version, at) && ctx.store.delete(ns, key)) {
      deleted = true;
      this.#fromPeer = true;
      try {
        ctx.repl?.deleted(ns, key);
      } finally {
        this.#fromPeer = false;
      }
      ctx.writes?.written(ns, key);
    }
    out.statusInt(m[FRAME.id] as number, Status.OK, deleted ? 1 : 0); // REGION_INVALIDATE.ok
  }

  /** An INVALIDATE that came from a peer region (`fromRegion`): applied, not shipped back. */
  fromRegion(m: unknown[], out: ReplyWriter, onInternalError: (err: unknown) => void): number {
    this.#fromPeer = true;
    try {
      return handle(m, this.#ctx, out, onInternalError);
    } finally {
      this.#fromPeer = false;
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.beforeReply();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  #newSender(peer: RegionPeer): Sender {
    return {
      peer, spool: new RegionSpool(peer.name, this.#o.spoolMax, this.#o.dataDir), inFlight: false, attempt: 0, notBefore: 0, lastSentAt: 0, batches: 0, failed: 0,
      batchSizes: BATCH_BUCKETS.map(() => 0), lastError: null, loggedAt: 0,
    };
  }

  /** Queues an invalidation of `ns` (a key, a tag, or the namespace) for every peer that gets the namespace. */
  #ship(ns: string, key: string | null, tag: string | null): void {
    if (this.#fromPeer || this.#senders.size === 0) return;
    const peers = this.#replicated.get(ns);
    if (peers === undefined || !this.#o.isPrimary()) return;
    const at = this.#now();
    for (const s of this.#senders.values()) if (peers === null || peers.includes(s.peer.name)) s.spool.add(ns, key, tag, at);
  }

  #wrap(inner: MutationLog | undefined): MutationLog {
    return {
      set: (ns, key, value, version, expiresAt, flags, tags) => {
        inner?.set(ns, key, value, version, expiresAt, flags, tags);
        this.#ship(ns, key, null);
      },
      changed: (ns, key) => {
        inner?.changed(ns, key);
        this.#ship(ns, key, null);
      },
      collChanged: (ns, key, changes) => {
        inner?.collChanged(ns, key, changes);
        this.#ship(ns, key, null);
      },
      deleted: (ns, key) => {
        inner?.deleted(ns, key);
        this.#ship(ns, key, null);
      },
      invalidated: (ns, tag) => {
        inner?.invalidated(ns, tag);
        this.#ship(ns, null, tag);
      },
    };
  }

  /**
   * Versions that came in one jump (a promotion's clock jump over the old primary's, a full sync's,
   * a migrated entry's) have no write time here: they count as written before any peer's write (a
   * miss, never a stale value kept).
   */
  #syncFloor(): void {
    const raised = this.#ctx.store.replication.raisedTo;
    if (raised > this.timeline.floor) this.timeline.floor = raised;
  }

  #tick(): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#syncFloor();
    this.timeline.sample(this.#ctx.store.versionClock, now);
    for (const s of this.#senders.values()) {
      if (s.inFlight || now < s.notBefore) continue;
      const due = s.spool.depth > 0 || (this.#o.isPrimary() && now - s.lastSentAt >= HEARTBEAT_MS);
      if (due) this.#send(s, now);
    }
  }

  #send(s: Sender, now: number): void {
    const secret = this.#o.secret;
    if (secret === undefined) {
      s.lastError = 'no region secret: set $SHARDCACHE_REGION_SECRET (the same in every region)';
      if (!this.#secretWarned) this.#o.log.error({ event: 'region-no-secret' }, s.lastError);
      this.#secretWarned = true;
      s.notBefore = now + BACKOFF_MAX_MS;
      return;
    }
    if (this.#self === undefined) {
      s.lastError = 'this region has no name: run shardctl region self <name>';
      s.notBefore = now + BACKOFF_MAX_MS;
      return;
    }
    s.spool.flush();
    const items = fitBatch(s.spool.peek(MAX_BATCH_ITEMS));
    const complete = items.length === s.spool.depth;
    // Every write this node applied up to `upTo` is in this batch or an earlier one.
    const upTo = complete ? now - 1 : items[items.length - 1].at - 1;
    const batch: InvalidationBatch = { from: this.#self, sender: this.#o.nodeId, upTo: Math.max(0, upTo), items };
    s.inFlight = true;
    s.lastSentAt = now;
    void this.#post(s.peer.endpoint, secret, batch).then((answer) => {
      s.inFlight = false;
      s.batches++;
      s.batchSizes[bucketOf(items.length)]++;
      if (typeof answer === 'string') {
        s.failed++;
        // Said once per failing spell (and again every 30 s while it lasts), not once per retry.
        const now = this.#now();
        if (s.attempt === 0 || now - s.loggedAt >= 30_000) {
          s.loggedAt = now;
          this.#o.log.warn({ event: 'region-batch-failed', peer: s.peer.name, items: items.length, depth: s.spool.depth, reason: answer }, `peer region ${s.peer.name} did not take a batch; retrying`);
        }
        s.lastError = answer;
        s.attempt++;
        s.notBefore = this.#now() + Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(16, s.attempt - 1));
        return;
      }
      if (s.attempt > 0) this.#o.log.info({ event: 'region-batch-resumed', peer: s.peer.name, after: s.attempt, depth: s.spool.depth }, `peer region ${s.peer.name} takes batches again`);
      s.attempt = 0;
      s.lastError = null;
      if (items.length > 0) s.spool.ack(Math.min(answer, items[items.length - 1].seq));
    });
  }

  /** One batch: the acknowledged seq, or why it failed. */
  #post(endpoint: string, secret: string, batch: InvalidationBatch): Promise<number | string> {
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(INVALIDATIONS_PATH, endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
      } catch {
        resolve(`the endpoint ${endpoint} is not a URL`);
        return;
      }
      const body = Buffer.from(JSON.stringify(batch));
      const tls = url.protocol === 'https:';
      const req = (tls ? https : http).request(url, {
        method: 'POST', agent: tls ? this.#httpsAgent : this.#httpAgent, timeout: REQUEST_TIMEOUT_MS,
        headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${secret}` },
      });
      let done = false;
      const finish = (v: number | string): void => {
        if (done) return;
        done = true;
        resolve(v);
      };
      req.on('timeout', () => {
        finish(`the peer did not answer within ${REQUEST_TIMEOUT_MS} ms`);
        req.destroy();
      });
      req.on('error', (err: NodeJS.ErrnoException) => finish(`peer unreachable${err.code !== undefined ? ` (${err.code})` : ''}`));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 64 * 1024) chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) return finish(`the peer answered ${res.statusCode ?? '?'}: ${text.slice(0, 200)}`);
          try {
            const ack = (JSON.parse(text) as { ackSeq?: unknown }).ackSeq;
            finish(typeof ack === 'number' && Number.isSafeInteger(ack) ? ack : 'the peer\'s answer has no ackSeq');
          } catch {
            finish('the peer\'s answer is not JSON');
          }
        });
        res.on('error', () => finish('the peer closed the connection mid-answer'));
      });
      req.end(body);
    });
  }
}

/** Whether a namespace ships invalidations to peer regions. */
export function isReplicated(policy: NamespacePolicy): boolean {
  return policy.replicated === 'invalidate';
}

/** The longest prefix of `items` whose JSON stays under MAX_BATCH_BYTES (at least one item). */
function fitBatch(items: RegionInvalidation[]): RegionInvalidation[] {
  let bytes = 256;
  for (let i = 0; i < items.length; i++) {
    bytes += 80 + items[i].ns.length + (items[i].key?.length ?? 0) * 6 + (items[i].tag?.length ?? 0) * 6;
    if (bytes > MAX_BATCH_BYTES && i > 0) return items.slice(0, i);
  }
  return items;
}

/** The BATCH_BUCKETS index of a batch of `n` items. */
function bucketOf(n: number): number {
  for (let i = 0; i < BATCH_BUCKETS.length; i++) if (n <= BATCH_BUCKETS[i]) return i;
  return BATCH_BUCKETS.length - 1;
}

