import type { Logger } from '../../shared/log';
import { MAX_BATCH_BYTES, parseBatch, REGION_SECRET_ENV, type InvalidationAck, type InvalidationBatch } from '../../shared/regions';
import { REGION_NAME } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import type { CacheBackend } from '../backend';
import { EdgeErrorCode, ProxyErrorCode } from '../errors';
import { errorReply, outcomeReply, type HttpReply } from '../front/http-replies';
import { keyArg, namespaceArg } from '../front/validate';
import { toWireError, type EdgeError } from '../front/wire-error';
import { RegionFigures, type RegionReceived } from './figures';
import { countResults, planBatch, type ActionResult, type RegionAction } from './plan';
import { mapBounded } from '../../shared/map-bounded';
import { readBounded } from '../../shared/read-bounded';
import { REGION_SECRET_FILE_ENV, bearerMatches } from '../../shared/region-secret';

/** What applies a peer region's invalidations here: the data plane. */
export interface RegionApplier {
  regionInvalidate(ns: string, key: string, at: number): Promise<boolean>;
  invalidate(ns: string, tag: string | undefined, fromRegion: string): Promise<void>;
}

/** Deadline of a home read forwarded to a peer region. */
export const HOME_READ_TIMEOUT_MS = 2000;
/** Operations of one batch in flight at once. */
export const BATCH_CONCURRENCY = 64;
/** The header (and query parameter `readHome`) asking a GET to be served by a region. */
export const READ_HOME_HEADER = 'x-shardcache-read-home';
export const SERVED_BY_HEADER = 'x-shardcache-served-by';
/** Headers of a peer's GET answer passed on to the client of a home read. */
const PASSED_HEADERS = ['content-type', 'x-cache-hit', 'x-cache-version', 'x-cache-ttl', 'x-cache-format', 'x-shardcache-stale', 'x-shardcache-hot'];

export interface RegionServiceOptions {
  /** The region secret (`loadRegionSecret`); undefined: the region routes answer 403. */
  secret: string | undefined;
  applier: RegionApplier;
  /** Runs a GET for a peer's home read (the data plane), bypassing user grants: the region secret vouches. */
  backend: Pick<CacheBackend, 'run'>;
  snapshot(): TopologySnapshot | undefined;
  figures: RegionFigures;
  log: Logger;
  homeReadTimeoutMs?: number;
  /** Forwards a home read (default: global fetch, keep-alive by undici's pool). */
  fetch?: typeof fetch;
}

/** `GET /v1/admin/regions` on the proxy's admin port. */
export interface RegionsReport {
  region: string | null;
  peers: Array<{ name: string; endpoint: string }>;
  received: RegionReceived[];
}

const reply = (status: number, body: unknown, headers: Array<[string, string]> = []): HttpReply => ({
  status, headers: [['content-type', 'application/json'], ...headers], body: JSON.stringify(body),
});

/**
 * The proxy's side of regions (docs/operations.md "Regions"), on the client HTTP port:
 *
 *   POST /v1/region/invalidations   a peer region's batch: every item applied (keys: REGION_INVALIDATE
 *                                   at the key's primary; tags and wholesale: INVALIDATE with
 *                                   fromRegion on every shard), then 200 {ackSeq, applied, kept};
 *                                   any failure: 503 and the sender retries the whole batch
 *   GET  /v1/region/read/{ns}/{key}  a peer's home read: a GET here, from the primary
 *   GET  /v1/cache/{ns}/{key} + x-shardcache-read-home: <peer>   forwarded to that peer's read route
 *
 * The region routes carry the region secret (`Authorization: Bearer <secret>`), not a user's
 * credentials. Holds the receiver figures; no other state.
 */
export class RegionService {
  readonly #o: RegionServiceOptions;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: RegionServiceOptions) {
    this.#o = options;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.homeReadTimeoutMs ?? HOME_READ_TIMEOUT_MS;
  }

  /** Largest batch body read. */
  get maxBodyBytes(): number {
    return MAX_BATCH_BYTES;
  }

  /** The refusal of a region route's `Authorization` header ('' when absent), or undefined when it carries the secret. */
  authRefusal(header: string): EdgeError | undefined {
    const secret = this.#o.secret;
    if (secret === undefined) return noSecret();
    if (header === '') return { code: ProxyErrorCode.NOAUTH, message: 'region routes need Authorization: Bearer <region secret>' };
    if (!bearerMatches(header, secret)) return { code: ProxyErrorCode.WRONGPASS, message: 'wrong region secret' };
    return undefined;
  }

  /** Applies one batch body (already authorised); never rejects. */
  async ingest(body: Buffer): Promise<HttpReply> {
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return errorReply({ code: ProxyErrorCode.BAD_REQUEST, message: `the body is not JSON (${body.length} bytes); send an invalidation batch (shared/regions.ts)` });
    }
    const batch = parseBatch(json);
    if (typeof batch === 'string') return errorReply({ code: ProxyErrorCode.BAD_REQUEST, message: batch });
    if (this.#o.snapshot()?.config === undefined) {
      this.#o.figures.failed(batch.from);
      return errorReply({ code: ProxyErrorCode.UNAVAILABLE, message: 'no topology yet: the proxy has not loaded an initialised cluster from etcd' });
    }
    try {
      const ack = await this.apply(batch);
      return reply(200, ack);
    } catch (err) {
      this.#o.figures.failed(batch.from);
      const wire = toWireError(err, (e) => this.#o.log.error({ err: e }, 'unexpected failure applying a region batch'));
      this.#o.log.warn({ event: 'region-batch-failed', from: batch.from, sender: batch.sender, items: batch.items.length, code: wire.code, err: wire.message }, 'a peer region\'s invalidation batch failed; the sender retries it');
      return errorReply({ code: ProxyErrorCode.UNAVAILABLE, message: `the batch was not applied whole (${wire.code}: ${wire.message}); retry it` });
    }
  }

  /** Applies every item of `batch` (concurrently, bounded) and counts it; rejects with the first failure. */
  async apply(batch: InvalidationBatch): Promise<InvalidationAck> {
    const plan = planBatch(batch);
    const applier = this.#o.applier;
    const results = await mapBounded(plan.actions, BATCH_CONCURRENCY, async (action: RegionAction): Promise<ActionResult> => {
      if (action.kind === 'key') return { action, deleted: await applier.regionInvalidate(action.ns, action.key, action.at) };
      await applier.invalidate(action.ns, action.kind === 'tag' ? action.tag : undefined, batch.from);
      return { action, deleted: true };
    });
    const { applied, kept } = countResults(results);
    this.#o.figures.applied({ from: batch.from, sender: batch.sender, upTo: batch.upTo, ats: batch.items.map((i) => i.at), applied, kept, wholesale: plan.wholesale });
    return { ackSeq: plan.ackSeq, applied, kept };
  }

  /** A peer's home read (already authorised): a GET from the primary, answered as `GET /v1/cache/...` is. */
  read(rawNs: string, rawKey: string, acceptsBinary: boolean): Promise<HttpReply> {
    return new Promise((resolve) => {
      const fail = (err: unknown): void => resolve(errorReply(toWireError(err, (e) => this.#o.log.error({ err: e }, 'unexpected failure of a home read'))));
      try {
        const ns = namespaceArg(rawNs);
        const key = keyArg(rawKey);
        if (this.#o.snapshot()?.config === undefined) return resolve(errorReply({ code: ProxyErrorCode.UNAVAILABLE, message: 'no topology yet: the proxy has not loaded an initialised cluster from etcd' }));
        this.#o.backend.run({ op: 'get', ns, key }, 'primary', (err, outcome) => {
          if (err != null) return fail(err);
          try {
            resolve(outcomeReply(outcome!, { acceptsBinary, now: Date.now(), errorOf: (e) => toWireError(e) }));
          } catch (failure) {
            fail(failure);
          }
        });
      } catch (err) {
        fail(err);
      }
    });
  }

  /** Whether `region` names this proxy's own region (a home read of it is a plain GET here). */
  isLocal(region: string): boolean {
    return this.#o.snapshot()?.region?.name === region;
  }

  /**
   * Where a GET asking to be read at `region` goes: undefined to read here (this proxy's own
   * region), else the refusal or the peer's answer (its status and JSON, with
   * `x-shardcache-served-by`). The client's own grants were checked by the caller.
   */
  async homeRead(region: string, ns: string, key: string, accept: string): Promise<HttpReply | undefined> {
    const snapshot = this.#o.snapshot();
    if (snapshot?.region !== undefined && snapshot.region.name === region) return undefined;
    const peer = REGION_NAME.test(region) ? snapshot?.regions.get(region) : undefined;
    if (peer === undefined) {
      const known = snapshot === undefined ? [] : [...snapshot.regions.keys()];
      const self = snapshot?.region?.name;
      return errorReply({
        code: ProxyErrorCode.BAD_REQUEST,
        message: `unknown region "${region.slice(0, 64)}" in ${READ_HOME_HEADER}; this is ${self === undefined ? 'a cluster without a region' : `region ${self}`}, its peers: ${known.join(', ') || 'none'} (shardctl region list)`,
      });
    }
    const secret = this.#o.secret;
    if (secret === undefined) return errorReply(noSecret());
    const url = `${peer.endpoint.replace(/\/+$/, '')}/v1/region/read/${pathSegment(ns)}/${pathSegment(key)}`;
    let res: Response;
    let body: Buffer;
    try {
      res = await this.#fetch(url, { headers: { authorization: `Bearer ${secret}`, accept: accept || 'application/json' }, signal: AbortSignal.timeout(this.#timeoutMs) });
      const read = await readBounded(res, MAX_HOME_READ_BYTES);
      if (read === undefined) return errorReply({ code: ProxyErrorCode.UNAVAILABLE, message: `region ${region} answered more than ${MAX_HOME_READ_BYTES} bytes to a home read` });
      body = read;
    } catch (err) {
      const timedOut = (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
      return errorReply({ code: ProxyErrorCode.UNAVAILABLE, message: `region ${region} ${timedOut ? `did not answer within ${this.#timeoutMs} ms` : 'is unreachable'}; read here without ${READ_HOME_HEADER}, or retry` });
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      const why = res.status === 404 ? 'does not serve home reads (an older proxy?)' : `refused this region's secret (HTTP ${res.status}; every region needs the same $${REGION_SECRET_ENV})`;
      return errorReply({ code: ProxyErrorCode.UNAVAILABLE, message: `region ${region} ${why}` });
    }
    const headers: Array<[string, string]> = [];
    for (const name of PASSED_HEADERS) {
      const value = res.headers.get(name);
      if (value !== null) headers.push([name, value]);
    }
    if (!headers.some(([n]) => n === 'content-type')) headers.unshift(['content-type', 'application/json']);
    headers.push([SERVED_BY_HEADER, region]);
    return { status: res.status, headers, body };
  }

  /** `GET /v1/admin/regions`. */
  report(): RegionsReport {
    const snapshot = this.#o.snapshot();
    const peers = snapshot === undefined ? [] : [...snapshot.regions.values()].map((p) => ({ name: p.name, endpoint: p.endpoint })).sort((a, b) => a.name.localeCompare(b.name));
    return { region: snapshot?.region?.name ?? null, peers, received: this.#o.figures.received() };
  }
}

function noSecret(): EdgeError {
  return {
    code: EdgeErrorCode.FORBIDDEN,
    message: `this proxy has no region secret: regions need the same secret on every proxy of every region ($${REGION_SECRET_ENV} or $${REGION_SECRET_FILE_ENV})`,
  };
}

/** One path segment for any key: percent-encoded, dots too, so `.` and `..` stay segments and never walk the peer's path. */
function pathSegment(text: string): string {
  return encodeURIComponent(text).replace(/\./g, '%2E');
}

/** Largest answer a home read takes from a peer: the largest item a namespace allows (64 MiB), as JSON. */
const MAX_HOME_READ_BYTES = 96 * 1024 * 1024;

