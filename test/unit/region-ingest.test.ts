import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import client from 'prom-client';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';
import { buildSnapshot, type TopologyKv, type TopologySnapshot } from '../../shared/topology/snapshot';
import type { InvalidationBatch, RegionInvalidation } from '../../shared/regions';
import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { RegionFigures, quantile, SENDER_RECENT_MS } from '../../proxy/region/figures';
import { countResults, planBatch } from '../../proxy/region/plan';
import { mapBounded } from '../../shared/map-bounded';
import { matchRegionRoute, readHomeOf } from '../../proxy/region/routes';
import { bearerMatches, loadRegionSecret } from '../../shared/region-secret';
import { RegionService, type RegionApplier } from '../../proxy/region/service';
import { createLogger } from '../../shared/log';

const item = (seq: number, ns: string, key: string | null, tag: string | null = null, at = 1000): RegionInvalidation => ({ seq, ns, key, tag, at });
const batch = (items: RegionInvalidation[], over: Partial<InvalidationBatch> = {}): InvalidationBatch => ({ from: 'eu', sender: 'n1', upTo: 5000, items, ...over });

describe('planBatch', () => {
  test('keys, tags and wholesale items become the fewest operations, each counting its items', () => {
    const plan = planBatch(batch([item(1, 'a', 'k', null, 10), item(2, 'a', 'k', null, 30), item(3, 'a', 'j'), item(4, 'b', null, 't'), item(5, 'b', null, 't'), item(6, 'c', 'x')]));
    expect(plan.ackSeq).toBe(6);
    expect(plan.wholesale).toBe(0);
    expect(plan.actions).toEqual([
      { kind: 'tag', ns: 'b', tag: 't', items: 2 },
      { kind: 'key', ns: 'a', key: 'k', at: 30, items: 2 },
      { kind: 'key', ns: 'a', key: 'j', at: 1000, items: 1 },
      { kind: 'key', ns: 'c', key: 'x', at: 1000, items: 1 },
    ]);
  });

  test('a wholesale item stands for every key and tag item of its namespace, before or after it', () => {
    const plan = planBatch(batch([item(1, 'a', 'k'), item(2, 'a', null), item(3, 'a', null, 't'), item(4, 'b', 'k'), item(5, 'a', null)]));
    expect(plan.wholesale).toBe(2);
    expect(plan.actions).toEqual([{ kind: 'namespace', ns: 'a', items: 4 }, { kind: 'key', ns: 'b', key: 'k', at: 1000, items: 1 }]);
  });

  test('an empty batch (a heartbeat) acknowledges -1 and does nothing', () => {
    expect(planBatch(batch([]))).toEqual({ actions: [], ackSeq: -1, wholesale: 0 });
  });

  test('countResults: a key kept counts its items as kept; tags and namespaces always applied', () => {
    const plan = planBatch(batch([item(1, 'a', 'k'), item(2, 'a', 'k'), item(3, 'a', 'j'), item(4, 'b', null, 't'), item(5, 'c', null)]));
    const results = plan.actions.map((action) => ({ action, deleted: action.kind === 'key' && action.key === 'j' }));
    expect(countResults(results)).toEqual({ applied: 3, kept: 2 });
  });
});

describe('mapBounded', () => {
  test('keeps at most `limit` in flight and returns results in input order', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3], 2, async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });

  test('rejects with the first failure once nothing is left running', async () => {
    let running = 0;
    const work = mapBounded([1, 2, 3, 4], 2, async (n) => {
      running++;
      await new Promise((r) => setTimeout(r, n * 2));
      running--;
      if (n === 2) throw new Error('two');
      return n;
    });
    await expect(work).rejects.toThrow('two');
    expect(running).toBe(0);
  });
});

describe('RegionFigures', () => {
  test('counts per origin, lag percentiles from the recent samples, behind from the oldest recent sender', () => {
    let now = 100_000;
    const registry = new client.Registry();
    const f = new RegionFigures({ registry, now: () => now });
    f.applied({ from: 'eu', sender: 'n1', upTo: now - 500, ats: [now - 10, now - 20, now - 30, now - 1000], applied: 3, kept: 1, wholesale: 0 });
    f.applied({ from: 'eu', sender: 'n2', upTo: now - 2000, ats: [], applied: 0, kept: 0, wholesale: 0 });
    f.applied({ from: 'us', sender: 'm1', upTo: now - 50, ats: [now + 5], applied: 1, kept: 0, wholesale: 1 });
    const [eu, us] = f.received();
    expect(eu).toEqual({ from: 'eu', applied: 3, kept: 1, wholesale: 0, lagP50Ms: 20, lagP99Ms: 1000, behindMs: 2000, senders: 2 });
    expect(us).toMatchObject({ from: 'us', wholesale: 1, lagP50Ms: 0, behindMs: 50, senders: 1 });
    // n2 goes quiet: after 30 s only n1 counts; once every sender is quiet, behind grows from the newest upTo.
    now += SENDER_RECENT_MS - 1000;
    f.applied({ from: 'eu', sender: 'n1', upTo: now - 100, ats: [], applied: 0, kept: 0, wholesale: 0 });
    now += 2000;
    expect(f.received()[0]).toMatchObject({ behindMs: 2100, senders: 1 });
    now += SENDER_RECENT_MS;
    expect(f.received()[0]).toMatchObject({ behindMs: SENDER_RECENT_MS + 2100, senders: 0 });
  });

  test('exports the Prometheus series', async () => {
    const registry = new client.Registry();
    const now = 50_000;
    const f = new RegionFigures({ registry, now: () => now });
    f.applied({ from: 'eu', sender: 'n1', upTo: now - 3000, ats: [now - 2], applied: 1, kept: 2, wholesale: 1 });
    f.failed('eu');
    const text = await registry.metrics();
    expect(text).toContain('shardcache_region_invalidations_total{from="eu",result="applied"} 1');
    expect(text).toContain('shardcache_region_invalidations_total{from="eu",result="kept"} 2');
    expect(text).toContain('shardcache_region_wholesale_total{from="eu"} 1');
    expect(text).toContain('shardcache_region_invalidation_lag_seconds_bucket{le="0.0025",from="eu"} 1');
    expect(text).toContain('shardcache_region_invalidation_lag_seconds_bucket{le="0.001",from="eu"} 0');
    expect(text).toContain('shardcache_region_behind_seconds{from="eu"} 3');
    expect(text).toContain('shardcache_region_batches_total{from="eu",result="failed"} 1');
  });

  test('quantile is nearest-rank', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(quantile([7], 0.5)).toBe(7);
  });
});

describe('region routes and secret', () => {
  test('matchRegionRoute', () => {
    expect(matchRegionRoute('post', '/v1/region/invalidations')).toEqual({ ok: true, route: 'invalidations' });
    expect(matchRegionRoute('get', '/v1/region/invalidations')).toMatchObject({ ok: false, allow: 'POST' });
    expect(matchRegionRoute('get', '/v1/region/read/ns/a%2Fb')).toEqual({ ok: true, route: 'read', namespace: 'ns', key: 'a/b' });
    expect(matchRegionRoute('put', '/v1/region/read/ns/k')).toMatchObject({ ok: false, allow: 'GET' });
    expect(matchRegionRoute('get', '/v1/region/read/ns/%E0')).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(matchRegionRoute('get', '/v1/region/other')).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  test('readHomeOf: the header first, then ?readHome=', () => {
    expect(readHomeOf('', '')).toBeUndefined();
    expect(readHomeOf('', 'readPreference=replica')).toBeUndefined();
    expect(readHomeOf(' eu ', 'readHome=us')).toBe('eu');
    expect(readHomeOf('', 'a=1&readHome=us')).toBe('us');
    expect(readHomeOf('', 'readHome=')).toBeUndefined();
  });

  test('loadRegionSecret: the file wins, a short secret is refused, none is undefined', () => {
    expect(loadRegionSecret({})).toBeUndefined();
    expect(loadRegionSecret({ SHARDCACHE_REGION_SECRET: 'x'.repeat(16) })).toBe('x'.repeat(16));
    expect(() => loadRegionSecret({ SHARDCACHE_REGION_SECRET: 'short' })).toThrow(/at least 16/);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'region-')), 'secret');
    fs.writeFileSync(file, `${'f'.repeat(20)}\nignored\n`);
    expect(loadRegionSecret({ SHARDCACHE_REGION_SECRET_FILE: file, SHARDCACHE_REGION_SECRET: 'x'.repeat(16) })).toBe('f'.repeat(20));
    expect(() => loadRegionSecret({ SHARDCACHE_REGION_SECRET_FILE: `${file}.missing` })).toThrow(/cannot read/);
  });

  test('bearerMatches', () => {
    const secret = 's'.repeat(24);
    expect(bearerMatches(`Bearer ${secret}`, secret)).toBe(true);
    expect(bearerMatches(`bearer ${secret}`, secret)).toBe(true);
    expect(bearerMatches(`Bearer ${secret}x`, secret)).toBe(false);
    expect(bearerMatches(`Basic ${secret}`, secret)).toBe(false);
    expect(bearerMatches('', secret)).toBe(false);
  });
});

const keys = clusterKeys('t');
const kv = (key: string, value: unknown): TopologyKv => ({ key, value: JSON.stringify(value), createRevision: 2, modRevision: 2 });
function snapshotWithRegions(): TopologySnapshot {
  return buildSnapshot(keys, [
    kv(keys.config, { slots: 16384, shards: 1, replicas: 0, leaseTtlSeconds: 3, createdAt: 1 }), kv(keys.slotmap, evenSlotMap(1)),
    kv(keys.region, { name: 'us' }), kv(keys.regionPeer('eu'), { name: 'eu', endpoint: 'http://eu.example:8080/' }),
  ], 3);
}

describe('RegionService', () => {
  const SECRET = 'r'.repeat(20);
  const log = createLogger('test', 'silent');
  function service(applier: Partial<RegionApplier> = {}, o: { secret?: string | null; fetch?: typeof fetch; snapshot?: TopologySnapshot } = {}) {
    const calls: string[] = [];
    const full: RegionApplier = {
      regionInvalidate: applier.regionInvalidate ?? (async (ns, key, at) => (calls.push(`key ${ns}/${key}@${at}`), key !== 'newer')),
      invalidate: applier.invalidate ?? (async (ns, tag, from) => void calls.push(`inv ${ns} ${tag ?? '*'} from ${from}`)),
    };
    const figures = new RegionFigures();
    const snapshot = o.snapshot ?? snapshotWithRegions();
    const svc = new RegionService({
      secret: o.secret === null ? undefined : (o.secret ?? SECRET), applier: full, snapshot: () => snapshot, figures, log, fetch: o.fetch, homeReadTimeoutMs: 100,
      backend: { run: (_cmd, _pref, done) => done(null, { op: 'get', result: { hit: false } }) },
    });
    return { svc, calls, figures };
  }
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));
  const json = (reply: { body: string | Buffer }) => JSON.parse(reply.body.toString());

  test('auth: no secret here 403 FORBIDDEN, none sent or wrong 401', () => {
    expect(service({}, { secret: null }).svc.authRefusal(`Bearer ${SECRET}`)).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/SHARDCACHE_REGION_SECRET/) });
    const { svc } = service();
    expect(svc.authRefusal('')).toMatchObject({ code: 'NOAUTH' });
    expect(svc.authRefusal('Bearer nope')).toMatchObject({ code: 'WRONGPASS' });
    expect(svc.authRefusal(`Bearer ${SECRET}`)).toBeUndefined();
  });

  test('ingest applies every item and answers ackSeq, applied, kept', async () => {
    const { svc, calls, figures } = service();
    const reply = await svc.ingest(body(batch([item(3, 'a', 'k', null, 7), item(4, 'a', 'newer'), item(9, 'b', null, 'tg'), item(10, 'c', null)])));
    expect(reply.status).toBe(200);
    expect(json(reply)).toEqual({ ackSeq: 10, applied: 3, kept: 1 });
    expect(calls.sort()).toEqual(['inv b tg from eu', 'inv c * from eu', 'key a/k@7', 'key a/newer@1000']);
    expect(figures.received()[0]).toMatchObject({ from: 'eu', applied: 3, kept: 1, wholesale: 1 });
  });

  test('ingest: bad JSON and bad batches are 400 with the parser\'s message', async () => {
    const { svc } = service();
    expect((await svc.ingest(Buffer.from('{'))).status).toBe(400);
    const bad = await svc.ingest(body({ from: 'eu', sender: 'n', upTo: 1, items: [item(2, 'a', 'k'), item(1, 'a', 'j')] }));
    expect(bad.status).toBe(400);
    expect(json(bad).error.message).toMatch(/seq/);
  });

  test('ingest: any failed item is 503 (the sender retries the whole batch) and counted as a failed batch', async () => {
    const { svc, figures } = service({ regionInvalidate: async (_ns, key) => { if (key === 'b') throw new ProxyError(ProxyErrorCode.NODE_UNAVAILABLE, 'node down'); return true; } });
    const reply = await svc.ingest(body(batch([item(1, 'a', 'a'), item(2, 'a', 'b')])));
    expect(reply.status).toBe(503);
    expect(json(reply).error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/NODE_UNAVAILABLE: node down/) });
    expect(figures.received()).toEqual([]);
  });

  test('home reads: own region is local, an unknown one 400, a peer forwarded with the secret', async () => {
    const seen: Array<{ url: string; auth: string | undefined }> = [];
    const fakeFetch = (async (url: string, init: RequestInit) => {
      seen.push({ url, auth: (init.headers as Record<string, string>).authorization });
      return new Response('{"hit":true,"value":1,"version":3,"ttlRemainingSeconds":null}', { status: 200, headers: { 'content-type': 'application/json', 'x-cache-hit': '1' } });
    }) as unknown as typeof fetch;
    const { svc } = service({}, { fetch: fakeFetch });
    expect(svc.isLocal('us')).toBe(true);
    expect(await svc.homeRead('us', 'ns', 'k', '')).toBeUndefined();
    const unknown = (await svc.homeRead('mars', 'ns', 'k', ''))!;
    expect(unknown.status).toBe(400);
    expect(json(unknown).error.message).toMatch(/unknown region "mars".*peers: eu/);
    const fwd = (await svc.homeRead('eu', 'ns', 'a/b', ''))!;
    expect(seen).toEqual([{ url: 'http://eu.example:8080/v1/region/read/ns/a%2Fb', auth: `Bearer ${SECRET}` }]);
    expect(fwd.status).toBe(200);
    expect(fwd.headers).toEqual(expect.arrayContaining([['x-shardcache-served-by', 'eu'], ['x-cache-hit', '1'], ['content-type', 'application/json']]));
    expect(json(fwd)).toMatchObject({ hit: true, value: 1 });
  });

  test('home reads: a peer that does not answer in time or refuses the secret is 503', async () => {
    const hang = ((_url: string, init: RequestInit) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof fetch;
    const slow = (await service({}, { fetch: hang }).svc.homeRead('eu', 'ns', 'k', ''))!;
    expect(slow.status).toBe(503);
    expect(json(slow).error.message).toMatch(/did not answer within 100 ms/);
    const refuse = (async () => new Response('{}', { status: 401 })) as unknown as typeof fetch;
    const refused = (await service({}, { fetch: refuse }).svc.homeRead('eu', 'ns', 'k', ''))!;
    expect(refused.status).toBe(503);
    expect(json(refused).error.message).toMatch(/refused this region's secret/);
    const noSecret = (await service({}, { secret: null }).svc.homeRead('eu', 'ns', 'k', ''))!;
    expect(noSecret.status).toBe(403);
  });

  test('report: region, peers and what was received', async () => {
    const { svc } = service();
    await svc.ingest(body(batch([])));
    expect(svc.report()).toMatchObject({ region: 'us', peers: [{ name: 'eu', endpoint: 'http://eu.example:8080/' }], received: [{ from: 'eu', applied: 0, senders: 1 }] });
  });
});
