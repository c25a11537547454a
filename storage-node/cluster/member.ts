import { performance } from 'node:perf_hooks';
import type { Etcd3, IKeyValue } from 'etcd3';
import { ShardcacheError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { connectEtcd, explainEtcdError, type EtcdAccess } from '../../shared/topology/etcd';
import { clusterKeys, ClusterConfigSchema, parseRecord, type ClusterKeys, type NodeRecord } from '../../shared/topology/schema';
import { campaign, deleteIfUnchanged, resign } from './election';
import { ClusterRole, type PrimaryView, type RoleChange } from './role';
import { LeaseSession } from './session';
import { campaignDelayMs, publishOffsets, rankOf, readOffsets } from './offsets';
import type { ReplOffsetRecord } from '../../shared/topology/schema';
import { primaryViewOf, ShardWatch, type SeenResign } from './shard-watch';

/** Lease TTL when neither `--lease-ttl` nor the cluster's `config` key gives one. */
export const DEFAULT_LEASE_TTL_SECONDS = 3;
const TICK_MS = 100;
const STOP_TIMEOUT_MS = 2000;
const RESIGNED = 'resign requested';

/** Who this node is in the cluster. */
export interface MemberOptions {
  etcd: string;
  /** TLS and credentials for etcd (absent: plain TCP, no login). */
  etcdAccess?: EtcdAccess;
  cluster: string;
  shardId: number;
  nodeId: string;
  zone: string;
  /** Undefined: the cluster config's `leaseTtlSeconds`, else DEFAULT_LEASE_TTL_SECONDS. */
  leaseTtlSeconds?: number;
  stepDownMarginMs: number;
  /** `host:port` of the frame server and of the admin port, as peers reach them. */
  addr: string;
  adminAddr: string;
  startedAt: number;
  /** Told of every role change synchronously, before the next request is handled. */
  onRole?(change: RoleChange): void;
  /** This node's replication position, published under its lease and compared before campaigning. */
  offsets?(): ReplOffsetRecord;
}

/** How often a changed offsets record is published (ms). */
const PUBLISH_EVERY_MS = 2000;
/** Wait after publishing our own offset at a vacancy, so the other candidates publish theirs. */
const SETTLE_MS = 150;

/** Delay before retry number `attempt` (0-based): doubling from 200 ms up to 5 s, with jitter. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5000, 200 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.75 + random() * 0.5));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * A storage node's membership in its shard: lease, registration, election, resignation.
 *
 *   join:  watch shards/<n>/ ─► grant lease ─► put nodes/<id> (leased) ─► campaign
 *   lease lost ─► step down ─► join again (as replica first)
 *   primary key deleted ─► campaign          resign request for our epoch ─► step down, give the key back
 *
 * The write gate is `role` (pure); this class only moves it between roles from what etcd says.
 * etcd is never awaited on a request. While etcd is unreachable the node keeps serving reads and
 * retries with backoff.
 * Owns: the etcd client, the lease session, the shard watch, the tick timer.
 */
export class ClusterMember {
  readonly role: ClusterRole;
  readonly #options: MemberOptions;
  readonly #log: Logger;
  readonly #client: Etcd3;
  readonly #keys: ClusterKeys;
  readonly #watch: ShardWatch;
  #session: LeaseSession | null = null;
  #ttlSeconds: number | undefined;
  #stopped = false;
  #joining: Promise<void> | null = null;
  #campaigning: Promise<void> | null = null;
  #campaignAgain = false;
  #campaignFailures = 0;
  #noCampaignBefore = 0;
  #resign: SeenResign | null = null;
  #tick: NodeJS.Timeout | undefined;
  /** The vacancy's offsets were compared (reset when a primary is seen). */
  #vacancyChecked = false;
  #lastPrimary = '';
  #published = '';
  #publishedAt = 0;
  #publishing: Promise<void> | null = null;

  constructor(options: MemberOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.#keys = clusterKeys(options.cluster);
    this.#client = connectEtcd(options.etcd, { callTimeoutMs: 2000, access: options.etcdAccess });
    this.role = new ClusterRole({
      nodeId: options.nodeId,
      addr: options.addr,
      now: () => performance.now(),
      stepDownMarginMs: options.stepDownMarginMs,
      onChange: (change) => this.#onRoleChange(change),
    });
    const events = { primary: (view: PrimaryView | null) => this.#onPrimary(view), resign: (seen: SeenResign | null) => this.#onResign(seen) };
    this.#watch = new ShardWatch(this.#client, this.#keys, options.shardId, events, log);
  }

  /** Fields for STATS and /healthz. */
  stats(): { role: string; epoch: number; nodeId: string; shardId: number; primary: string | null } {
    const { role, epoch, view } = this.role;
    return { role, epoch, nodeId: this.#options.nodeId, shardId: this.#options.shardId, primary: view?.addr ?? null };
  }

  /** Starts joining in the background; returns at once. */
  start(): void {
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    void this.#join();
  }

  /**
   * Leaves the cluster within about two seconds whatever etcd does: stops taking writes, gives the
   * primary key back so a replica takes over at once, revokes the lease, closes the client.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    const epoch = this.role.stepDown('shutting down');
    const session = this.#session;
    this.#session = null;
    const warn = (what: string) => (err: unknown) => {
      this.#log.warn({ err: explainEtcdError(err, this.#options.etcd).message }, `${what}; the lease will expire`);
    };
    const leave = async (): Promise<boolean> => {
      if (epoch > 0) await resign(this.#client, this.#keys.primary(this.#options.shardId), epoch).catch(warn('could not delete the primary key'));
      await this.#watch.close().catch(() => undefined);
      await session?.close().catch(warn('could not revoke the lease'));
      return true;
    };
    const done = await Promise.race([leave(), sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!done) this.#log.warn('etcd did not answer in time; leaving without it (the lease will expire)');
    this.#client.close();
  }

  #join(): Promise<void> {
    this.#joining ??= this.#joinLoop().finally(() => (this.#joining = null));
    return this.#joining;
  }

  async #joinLoop(): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await this.#joinOnce();
        return;
      } catch (err) {
        const retryInMs = retryDelayMs(attempt);
        const reason = explainEtcdError(err, this.#options.etcd).message;
        this.#log.warn({ err: reason, retryInMs }, 'cannot join the cluster yet; serving reads and refusing writes meanwhile');
        await sleep(retryInMs);
      }
    }
  }

  async #joinOnce(): Promise<void> {
    const ttl = (this.#ttlSeconds ??= await this.#resolveLeaseTtl());
    if (!this.#watch.started) await this.#watch.start();
    const session = await LeaseSession.open(this.#client, ttl, this.#log, (lost) => this.#onLost(lost));
    try {
      const record: NodeRecord = {
        addr: this.#options.addr, adminAddr: this.#options.adminAddr, shardId: this.#options.shardId, zone: this.#options.zone, startedAt: this.#options.startedAt,
      };
      await this.#client.put(this.#keys.node(this.#options.nodeId)).value(JSON.stringify(record)).lease(session.leaseId);
      if (session.ended || this.#stopped) throw new ShardcacheError('LEASE_LOST', 'the lease ended while joining');
    } catch (err) {
      session.close().catch(() => session.release());
      throw err;
    }
    this.#session = session;
    this.#log.info({ event: 'joined', leaseId: session.leaseId, leaseTtl: ttl, shard: this.#options.shardId }, 'joined the cluster');
    this.#requestCampaign();
  }

  async #resolveLeaseTtl(): Promise<number> {
    let ttl = this.#options.leaseTtlSeconds;
    if (ttl === undefined) {
      const text = await this.#client.get(this.#keys.config).string();
      const parsed = text === null ? null : parseRecord(ClusterConfigSchema, text);
      if (parsed && !parsed.ok) this.#log.warn({ reason: parsed.reason }, 'unreadable cluster config; using the default lease TTL');
      ttl = parsed?.ok ? parsed.value.leaseTtlSeconds : DEFAULT_LEASE_TTL_SECONDS;
    }
    const maxMargin = Math.floor((ttl * 1000) / 2);
    if (this.#options.stepDownMarginMs > maxMargin) {
      this.#log.warn({ stepDownMarginMs: this.#options.stepDownMarginMs, leaseTtl: ttl, using: maxMargin }, 'step-down margin must be under half the lease TTL; lowering it');
      this.role.setStepDownMargin(maxMargin);
    }
    return ttl;
  }

  #onLost(session: LeaseSession): void {
    if (session !== this.#session) return;
    this.#session = null;
    this.role.stepDown('lease lost');
    if (!this.#stopped) void this.#join();
  }

  #onTick(): void {
    if (performance.now() - this.#publishedAt >= PUBLISH_EVERY_MS) void this.#publish();
    if (this.role.refresh()) return;
    const view = this.role.view;
    if (view === null || this.#isOwnStaleKey(view)) this.#requestCampaign();
  }

  /**
   * A primary key with this node's id and address that this process does not hold: left by an
   * earlier run of this node (the address cannot be bound by two live processes) or by an epoch it
   * gave up. Nobody serves it, so it is deleted rather than left to expire.
   */
  #isOwnStaleKey(view: PrimaryView): boolean {
    return view.nodeId === this.#options.nodeId && view.addr === this.#options.addr && !this.role.isPrimary;
  }

  /** Publishes the offsets record if it changed (single flight); never throws. */
  #publish(force = false): Promise<void> {
    const read = this.#options.offsets;
    const session = this.#session;
    if (!read || session === null || session.ended) return Promise.resolve();
    this.#publishedAt = performance.now();
    const record = read();
    const text = JSON.stringify({ ...record, at: 0 });
    if (!force && text === this.#published) return Promise.resolve();
    const key = this.#keys.offsets(this.#options.shardId, this.#options.nodeId);
    this.#publishing ??= publishOffsets(this.#client, key, record, session.leaseId)
      .then(() => void (this.#published = text))
      .catch((err: unknown) => this.#log.debug({ err: (err as Error).message }, 'could not publish offsets'))
      .finally(() => (this.#publishing = null));
    return this.#publishing;
  }

  /**
   * Once per vacancy: publish our offset, let the others publish theirs, and delay our campaign
   * by how many candidates are ahead of us (bounded). Returns the delay (0: campaign now).
   */
  async #vacancyDelay(): Promise<number> {
    const read = this.#options.offsets;
    if (!read || this.#vacancyChecked) return 0;
    this.#vacancyChecked = true;
    try {
      await this.#publishing;
      await this.#publish(true);
      await sleep(SETTLE_MS);
      const records = await readOffsets(this.#client, this.#keys.offsetsPrefix(this.#options.shardId));
      const rank = rankOf(read().offset, records, new Set([this.#options.nodeId, this.#lastPrimary]));
      const delay = campaignDelayMs(rank);
      if (delay > 0) this.#log.info({ event: 'campaign-delay', rank, delayMs: delay }, 'a more up-to-date replica goes first');
      return delay;
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'could not compare offsets; campaigning now');
      return 0;
    }
  }

  #onRoleChange(change: RoleChange): void {
    this.#options.onRole?.(change);
    this.#log.info({ event: 'role', role: change.role, epoch: change.epoch, reason: change.reason }, `role: ${change.role}`);
    if (change.gaveUp > 0 && !this.#stopped && change.reason !== RESIGNED) void this.#giveBack(change.gaveUp);
  }

  /** Deletes the primary key of `epoch` if it is still there (so the shard need not wait for the lease). */
  async #giveBack(epoch: number, resignKey?: string): Promise<void> {
    try {
      const deleted = await resign(this.#client, this.#keys.primary(this.#options.shardId), epoch, resignKey);
      this.#log.info({ event: 'resigned', epoch, deleted }, deleted ? 'gave the primary key back' : 'the primary key was already gone');
    } catch (err) {
      this.#log.warn({ epoch, err: explainEtcdError(err, this.#options.etcd).message }, 'could not delete the primary key; it goes with the lease');
    }
  }

  #onPrimary(view: PrimaryView | null): void {
    this.role.observePrimary(view);
    if (view !== null && view.nodeId !== this.#options.nodeId) this.#noCampaignBefore = 0; // someone took over
    if (view !== null) {
      this.#vacancyChecked = false;
      this.#lastPrimary = view.nodeId;
    }
    if (view === null || this.#isOwnStaleKey(view)) this.#requestCampaign();
    this.#checkResign();
  }

  #onResign(seen: SeenResign | null): void {
    this.#resign = seen;
    this.#checkResign();
  }

  /** Acts on the latest resign request: ours → resign; older than the current primary → delete it. */
  #checkResign(): void {
    const seen = this.#resign;
    if (seen === null || this.#stopped) return;
    const { epoch } = seen.request;
    if (this.role.isPrimary && epoch === this.role.epoch) {
      this.#resign = null;
      void this.#resignOnRequest(epoch);
      return;
    }
    const current = this.role.view?.epoch ?? 0;
    if (current === 0 || epoch >= current) return;
    this.#resign = null;
    deleteIfUnchanged(this.#client, this.#keys.resign(this.#options.shardId), seen.modRevision).then(
      (deleted) => deleted && this.#log.info({ epoch, current }, 'deleted a stale resign request'),
      (err: unknown) => this.#log.debug({ err: (err as Error).message }, 'could not delete a stale resign request'),
    );
  }

  async #resignOnRequest(epoch: number): Promise<void> {
    const ttl = this.#ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    this.#noCampaignBefore = performance.now() + 2 * ttl * 1000;
    this.role.stepDown(RESIGNED);
    await this.#giveBack(epoch, this.#keys.resign(this.#options.shardId));
  }

  /** Runs a campaign now, or once more after the one in flight (single flight). */
  #requestCampaign(): void {
    if (this.#campaigning) {
      this.#campaignAgain = true;
      return;
    }
    this.#campaigning = this.#campaignLoop().finally(() => (this.#campaigning = null));
  }

  async #campaignLoop(): Promise<void> {
    do {
      this.#campaignAgain = false;
      await this.#campaignOnce();
    } while (this.#campaignAgain && !this.#stopped);
  }

  async #campaignOnce(): Promise<void> {
    const session = this.#session;
    if (this.#stopped || session === null || session.ended || this.role.isPrimary || performance.now() < this.#noCampaignBefore) return;
    const me = { nodeId: this.#options.nodeId, addr: this.#options.addr };
    if (this.role.view === null) {
      const delay = await this.#vacancyDelay();
      if (delay > 0) {
        this.#noCampaignBefore = performance.now() + delay;
        return;
      }
      if (this.#stopped || this.role.isPrimary || this.role.view !== null || session !== this.#session || session.ended) return;
    }
    try {
      const result = await campaign(this.#client, this.#keys.primary(this.#options.shardId), me, session.leaseId);
      this.#campaignFailures = 0;
      if (result.won) this.#won(result.epoch, session);
      else await this.#lostTo(result.holder);
    } catch (err) {
      const retryInMs = retryDelayMs(this.#campaignFailures++);
      this.#noCampaignBefore = performance.now() + retryInMs;
      this.#log.warn({ err: explainEtcdError(err, this.#options.etcd).message, retryInMs }, 'campaign failed; retrying');
    }
  }

  #won(epoch: number, session: LeaseSession): void {
    if (session !== this.#session || session.ended) return; // the key goes with that lease
    if (!this.role.becomePrimary(epoch, session.proof)) {
      this.#log.warn({ epoch }, 'won the election but cannot prove the lease is alive; giving the key back');
      void this.#giveBack(epoch);
      return;
    }
    this.#checkResign();
  }

  /** Lost the campaign to `holder`; a stale key of this node's own (see #isOwnStaleKey) is deleted. */
  async #lostTo(holder: IKeyValue | null): Promise<void> {
    if (holder === null) return;
    const view = primaryViewOf(holder, this.#log);
    // The watch may already have shown a newer primary; epochs only grow, so keep the newest.
    if (view.epoch >= (this.role.view?.epoch ?? 0)) this.role.observePrimary(view);
    if (!this.#isOwnStaleKey(view)) return;
    this.#log.info({ epoch: view.epoch }, 'deleting a primary key of this node that no live process holds');
    if (await resign(this.#client, this.#keys.primary(this.#options.shardId), view.epoch)) this.#campaignAgain = true;
  }
}
