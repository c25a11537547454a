import type { GetResult, Hit } from '../../proxy/backend';
import { ProxyError } from '../../proxy/errors';
import { fillFlags } from '../../proxy/readthrough/entry-flags';
import type { LeaseReply } from '../../proxy/readthrough/fill-messages';
import type { OriginLoader, OriginResult } from '../../proxy/readthrough/origin';
import { ReadThrough, type FillStore } from '../../proxy/readthrough/read-through';
import { SingleFlight } from '../../proxy/routing/coalesce';
import { FillLeases } from '../../storage-node/fill-leases';
import type { NamespacePolicy } from '../../shared/topology/schema';

/** The owning node, in memory: entries with versions and expiries on a fake clock, real lease table. */
class FakeNode implements FillStore {
  readonly entries = new Map<string, Hit>();
  readonly leases: FillLeases;
  version = 0;
  leaseCalls = 0;
  constructor(readonly clock: { now: number }) {
    this.leases = new FillLeases(() => clock.now);
  }
  async read(ns: string, key: string): Promise<GetResult> {
    const e = this.entries.get(`${ns}/${key}`);
    return e !== undefined && (e.expiresAt === 0 || this.clock.now < e.expiresAt) ? e : { hit: false };
  }
  async lease(ns: string, key: string, ttl: number, seen: number): Promise<LeaseReply> {
    this.leaseCalls++;
    const e = await this.read(ns, key);
    if (e.hit && e.version !== seen) return { kind: 'changed', entry: e };
    const t = this.leases.take(ns, key, ttl);
    return 'token' in t ? { kind: 'granted', token: t.token } : { kind: 'held', heldMs: t.heldMs };
  }
  async fill(ns: string, key: string, token: number, value: Buffer, ttl: number, flags: number) {
    if (!this.leases.holds(ns, key, token)) return undefined;
    this.leases.release(ns, key, token);
    const entry: Hit = { hit: true, value, version: ++this.version, expiresAt: ttl > 0 ? this.clock.now + ttl : 0, flags };
    this.entries.set(`${ns}/${key}`, entry);
    return { version: entry.version, expiresAt: entry.expiresAt };
  }
  async release(ns: string, key: string, token: number) {
    return this.leases.release(ns, key, token);
  }
}

class FakeOrigin implements OriginLoader {
  calls = 0;
  next: () => Promise<OriginResult> = async () => ({ kind: 'value', value: Buffer.from(`"v${this.calls}"`), json: true });
  load(): Promise<OriginResult> {
    this.calls++;
    return this.next();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

function setup(random = () => 0.5) {
  const clock = { now: 1_000_000 };
  const node = new FakeNode(clock);
  const origin = new FakeOrigin();
  const slept: number[] = [];
  const rt = new ReadThrough({
    store: node, origin, flights: new SingleFlight<GetResult>(), flightKey: (ns, key) => `${ns}\n${key}`, now: () => clock.now, random,
    sleep: (ms) => {
      slept.push(ms);
      clock.now += ms;
      return new Promise((resolve) => setImmediate(resolve)); // one poll per macrotask
    },
  });
  return { clock, node, origin, rt, slept };
}

const policy = (p: Partial<NamespacePolicy> = {}): NamespacePolicy => ({ origin: 'http://o/{key}', defaultTtlSeconds: 10, ...p });

describe('read-through core', () => {
  test('a miss loads once, fills with the TTL plus the stale window, and the flags describe the entry', async () => {
    const { node, origin, rt, clock } = setup();
    const r = await rt.get('ns', 'k', policy({ staleWhileRevalidateSeconds: 5 }));
    expect(r).toMatchObject({ hit: true, value: Buffer.from('"v1"'), version: 1 });
    expect(origin.calls).toBe(1);
    const stored = node.entries.get('ns/k')!;
    expect(stored.expiresAt - clock.now).toBe(15_000);
    const notLoadTime = 0xffff0007; // the load time (bits 3-15) is measured on the real clock
    expect((stored.flags & notLoadTime) >>> 0).toBe(fillFlags({ json: true, negative: false, loadMs: 0, staleSeconds: 5 }));
    expect(node.leases.size).toBe(0); // the fill ended the lease
  });

  test('a miss while another loader holds the lease polls and gets its value, without loading', async () => {
    const { node, origin, rt, clock, slept } = setup();
    const other = node.leases.take('ns', 'k', 5000) as { token: number };
    const waiting = rt.get('ns', 'k', policy());
    await flush();
    expect(slept.length).toBeGreaterThan(0);
    await node.fill('ns', 'k', other.token, Buffer.from('"theirs"'), 10_000, fillFlags({ json: true, negative: false, loadMs: 10, staleSeconds: 0 }));
    const r = await waiting;
    expect(r).toMatchObject({ hit: true, value: Buffer.from('"theirs"') });
    expect(origin.calls).toBe(0);
    expect(slept.every((ms) => ms >= 1 && ms <= 50)).toBe(true);
    expect(clock.now).toBeGreaterThan(1_000_000);
  });

  test('a waiter gives up after fillWaitMs with ORIGIN_TIMEOUT', async () => {
    const { node, rt } = setup();
    node.leases.take('ns', 'k', 60_000);
    await expect(rt.get('ns', 'k', policy({ fillWaitMs: 300 }))).rejects.toMatchObject({ code: 'ORIGIN_TIMEOUT' });
  });

  test('a loader that died: its lease lapses and the waiter takes over', async () => {
    const { node, origin, rt } = setup();
    node.leases.take('ns', 'k', 200);
    const r = await rt.get('ns', 'k', policy({ fillWaitMs: 1000 }));
    expect(r.hit).toBe(true);
    expect(origin.calls).toBe(1);
  });

  test('origin 404: negative entry for negativeTtlSeconds, reads are misses', async () => {
    const { node, origin, rt, clock } = setup();
    origin.next = async () => ({ kind: 'not-found' });
    expect(await rt.get('ns', 'k', policy({ negativeTtlSeconds: 2 }))).toEqual({ hit: false });
    expect(await rt.get('ns', 'k', policy({ negativeTtlSeconds: 2 }))).toEqual({ hit: false });
    expect(origin.calls).toBe(1);
    expect(node.entries.get('ns/k')!.expiresAt - clock.now).toBe(2000);
    clock.now += 2000;
    await rt.get('ns', 'k', policy({ negativeTtlSeconds: 2 }));
    expect(origin.calls).toBe(2);
  });

  test('a failed load releases the lease and fails with ORIGIN_ERROR; the next miss loads at once', async () => {
    const { node, origin, rt } = setup();
    origin.next = async () => ({ kind: 'error', reason: 'origin answered 503' });
    const err = await rt.get('ns', 'k', policy()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect(err).toMatchObject({ code: 'ORIGIN_ERROR', message: 'loading ns/k failed: origin answered 503' });
    expect(node.leases.size).toBe(0);
    origin.next = async () => ({ kind: 'value', value: Buffer.from('x'), json: false });
    expect(await rt.get('ns', 'k', policy())).toMatchObject({ hit: true, value: Buffer.from('x') });
  });

  test('stale: served at once with one background refresh; a failed refresh marks later stale reads origin-error', async () => {
    const { origin, rt, clock } = setup();
    const p = policy({ defaultTtlSeconds: 1, staleWhileRevalidateSeconds: 60 });
    await rt.get('ns', 'k', p);
    clock.now += 1500;
    let release!: (r: OriginResult) => void;
    origin.next = () => new Promise((resolve) => (release = resolve));
    const [a, b] = await Promise.all([rt.get('ns', 'k', p), rt.get('ns', 'k', p)]);
    expect(a).toMatchObject({ hit: true, stale: 'revalidating', value: Buffer.from('"v1"') });
    expect(b).toMatchObject({ stale: 'revalidating' });
    expect(await rt.get('ns', 'k', p)).toMatchObject({ stale: 'revalidating' });
    expect(origin.calls).toBe(2);
    release({ kind: 'error', reason: 'origin answered 500' });
    await flush();
    expect(await rt.get('ns', 'k', p)).toMatchObject({ hit: true, stale: 'origin-error', value: Buffer.from('"v1"') });
    expect(origin.calls).toBe(2); // backoff: no new refresh within a second of the failure
    clock.now += 1000;
    origin.next = async () => ({ kind: 'value', value: Buffer.from('"v3"'), json: true });
    expect(await rt.get('ns', 'k', p)).toMatchObject({ stale: 'origin-error' });
    await flush();
    const fresh = await rt.get('ns', 'k', p);
    expect(fresh).toMatchObject({ hit: true, value: Buffer.from('"v3"') });
    expect((fresh as Hit).stale).toBeUndefined();
  });

  test('XFetch: a fresh entry near its expiry is refreshed early in the background (beta > 0 only)', async () => {
    const { origin, rt, clock, node } = setup(() => 0.001); // ln(0.001) ≈ -6.9: a "lucky" draw
    await rt.get('ns', 'k', policy({ defaultTtlSeconds: 10 }));
    // The load took 0 ms in the fake, so record a 1 s load time in the stored flags.
    const e = node.entries.get('ns/k')!;
    node.entries.set('ns/k', { ...e, flags: fillFlags({ json: true, negative: false, loadMs: 1000, staleSeconds: 0 }) });
    clock.now += 5000; // 5 s before expiry: 1000 × 1 × 6.9 ≥ 5000
    expect(await rt.get('ns', 'k', policy({ defaultTtlSeconds: 10 }))).toMatchObject({ hit: true });
    await flush();
    expect(origin.calls).toBe(1); // beta defaults to 0: off
    expect(await rt.get('ns', 'k', policy({ defaultTtlSeconds: 10, earlyRefreshBeta: 1 }))).toMatchObject({ hit: true });
    await flush();
    expect(origin.calls).toBe(2);
    expect(node.entries.get('ns/k')!.value).toEqual(Buffer.from('"v2"'));
  });

  test('entries written by apps (no FILLED flag) are served as they are', async () => {
    const { node, origin, rt, clock } = setup();
    node.entries.set('ns/k', { hit: true, value: Buffer.from('app'), version: 7, expiresAt: clock.now + 100, flags: 0 });
    expect(await rt.get('ns', 'k', policy({ earlyRefreshBeta: 10 }))).toMatchObject({ value: Buffer.from('app') });
    await flush();
    expect(origin.calls).toBe(0);
  });
});
