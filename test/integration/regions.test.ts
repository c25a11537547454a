import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { REGION_SECRET_ENV } from '../../shared/regions';
import { clusterKeys } from '../../shared/topology/schema';
import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { percentile } from '../helpers/proxy-cluster';
import { startShardNode, waitFor, type ShardNode } from '../helpers/shard-nodes';
import { TcpRelay } from '../helpers/tcp-proxy';

/**
 * Regions (issue 18) on real processes: two whole clusters, A (`a`) and B (`b`), each with its
 * own etcd, a shard of two nodes (each with its own --data-dir, so its spool is on disk) and a
 * proxy; a third one-node region C (`c`, --region-spool-max 100) for the spool overflow. The link
 * from A's (and C's) nodes to B's proxy goes through a TCP relay the test cuts and restores.
 *
 * Figures measured on the development machine (printed by the test, quoted in docs/operations.md
 * "Regions"): staleness of B behind A's acknowledged writes under load, worst and p99; time for B
 * to converge after a 30 s cut. STALENESS_BOUND_MS and CONVERGE_BOUND_MS are those with margin.
 */
const SECRET = 'regions-integration-secret-0123456789';
const NS = 'shared';
const SPILL_NS = 'spill';
const KEYS = 200;
const WRITERS = 8;
const READERS = 8;
/**
 * B never serves a value older than A's latest acknowledged write for longer than this (link up).
 * Measured worst 0.3-3.6 s on a 2-core machine shared with other test runs (load average up to
 * ~19; the test's own readers and writers share those cores): the bound is that with margin.
 */
const STALENESS_BOUND_MS = 5000;
/** After a 30 s cut is restored, B holds nothing older than A's final state within this. */
const CONVERGE_BOUND_MS = 10_000;
const CUT_MS = 30_000;

jest.setTimeout(150_000);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const keyPath = (ns: string, key: string): string => `/v1/cache/${ns}/${encodeURIComponent(key)}`;

interface Region {
  c: TestCluster;
  name: string;
  /** Live nodes, and the flags each was started with (to restart it with the same --data-dir and --node-id). */
  nodes: ShardNode[];
  args: Map<string, string[]>;
  dirs: string[];
}

async function startRegion(name: string, perShard: number, extra: string[] = []): Promise<Region> {
  const dirs = Array.from({ length: perShard }, (_, k) => fs.mkdtempSync(path.join(os.tmpdir(), `region-${name}${k}-`)));
  const args = new Map<string, string[]>();
  const c = await startTestCluster({
    shards: 1, perShard, cluster: `region-${name}`,
    nodeArgsFor: (_s, k) => {
      const a = ['--data-dir', dirs[k], '--node-id', `${name}-node-${k}`, ...extra];
      args.set(`${name}-node-${k}`, a);
      return a;
    },
  });
  return { c, name, nodes: [...c.nodes[0]], args, dirs };
}

/** `region`, its peers and the replicated namespaces, put in the region's etcd as shardctl would. */
async function configure(r: Region, peers: Record<string, string>, namespaces: string[]): Promise<void> {
  const etcd = new Etcd3({ hosts: r.c.etcd.url });
  try {
    const keys = clusterKeys(r.c.cluster);
    await etcd.put(keys.region).value(JSON.stringify({ name: r.name }));
    for (const [name, endpoint] of Object.entries(peers)) await etcd.put(keys.regionPeer(name)).value(JSON.stringify({ name, endpoint, addedAt: Date.now() }));
    for (const ns of namespaces) await etcd.put(keys.namespace(ns)).value(JSON.stringify({ replicated: 'invalidate' }));
  } finally {
    etcd.close();
  }
}

const put = async (r: Region, ns: string, key: string, value: string): Promise<boolean> => {
  try {
    const res = await r.c.call('PUT', keyPath(ns, key), { value });
    return res.status === 200 || res.status === 201;
  } catch {
    return false;
  }
};
const get = async (r: Region, ns: string, key: string): Promise<{ hit: boolean; value?: unknown }> => (await r.c.call('GET', keyPath(ns, key))).json;
const regionsReport = async (r: Region): Promise<any> => (await httpCall(r.c.adminUrl, 'GET', '/v1/admin/regions')).json;

/** Every live node's spool toward `peer` is empty. */
async function drained(r: Region, peer: string): Promise<boolean> {
  const stats = await Promise.all(r.nodes.map((n) => n.stats().catch(() => undefined)));
  return stats.every((s) => s !== undefined && (s.regions ?? []).filter((p: any) => p.peer === peer).every((p: any) => p.depth === 0));
}

async function primaryOf(r: Region): Promise<ShardNode> {
  return waitFor('a primary', async () => {
    for (const n of r.nodes) {
      const s = await n.stats().catch(() => undefined);
      if (s?.role === 'primary' && s.slotMapKnown !== false) return n;
    }
    return undefined;
  }, 15_000, 50);
}

/** Stops `victim` (SIGTERM or SIGKILL), starts it again with the same flags (same --data-dir and --node-id), and waits until the region has a primary. */
async function restartNode(r: Region, victim: ShardNode, signal: 'SIGTERM' | 'SIGKILL'): Promise<ShardNode> {
  r.nodes = r.nodes.filter((n) => n !== victim);
  if (signal === 'SIGKILL') {
    victim.proc.child.kill('SIGKILL');
    await victim.conn.close().catch(() => undefined);
    await victim.proc.stop();
  } else {
    await victim.close();
  }
  await primaryOf(r); // the survivor takes over (lease expiry)
  const fresh = await startShardNode(r.c.etcd.endpoint, r.c.cluster, 0, r.args.get(victim.nodeId)!);
  r.nodes.push(fresh);
  return fresh;
}

describe('regions: two clusters as real processes, A\'s writes invalidate B through a relay the test cuts', () => {
  let a: Region;
  let b: Region;
  let c: Region;
  let relay: TcpRelay;
  let relayC: TcpRelay;
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);

  beforeAll(async () => {
    process.env[REGION_SECRET_ENV] = SECRET; // the children inherit it
    [a, b, c] = await Promise.all([startRegion('a', 2), startRegion('b', 2), startRegion('c', 1, ['--region-spool-max', '100'])]);
    const bPort = Number(new URL(b.c.httpUrl).port);
    [relay, relayC] = await Promise.all([TcpRelay.start(bPort), TcpRelay.start(bPort)]);
    await Promise.all([
      configure(a, { b: `http://127.0.0.1:${relay.port}` }, [NS]),
      configure(b, {}, [NS, SPILL_NS]),
      configure(c, { b: `http://127.0.0.1:${relayC.port}` }, [SPILL_NS]),
    ]);
    // The pipeline works end to end: a key cached in B is gone there after a write in A.
    await waitFor('B to know its region', async () => (await regionsReport(b)).region === 'b', 10_000, 50);
    await waitFor('the heartbeats of A and C at B', async () => {
      const from = ((await regionsReport(b)).received as any[]).map((x) => x.from);
      return from.includes('a') && from.includes('c');
    }, 10_000, 50);
    expect(await put(b, NS, 'probe', 'old')).toBe(true);
    await waitFor('A to ship a write of the replicated namespace', async () => {
      await put(a, NS, 'probe', 'new');
      return !(await get(b, NS, 'probe')).hit;
    }, 10_000, 200);
  }, 90_000);

  afterAll(async () => {
    await relay?.close();
    await relayC?.close();
    for (const r of [a, b, c]) {
      if (!r) continue;
      // Nodes the test restarted are not the helper's: stop them here (the helper's own ones it stops).
      await Promise.all(r.nodes.filter((n) => !r.c.nodes[0].includes(n)).map((n) => n.close().catch(() => undefined)));
      await r.c.stop();
      for (const d of r.dirs) fs.rmSync(d, { recursive: true, force: true });
    }
    delete process.env[REGION_SECRET_ENV];
  });

  test(`under load (${WRITERS} writers in A, ${KEYS} keys, 10 s), B stops serving a value older than A's acknowledged write within ${STALENESS_BOUND_MS} ms`, async () => {
    // Per key, B's cached value (a fill written in B) and the first A write sent after that fill was
    // acknowledged: A applied it after B's fill, so B serving the fill after A's ack is staleness.
    const state = keys.map(() => ({ filled: false, fillAckAt: 0, staleSince: undefined as number | undefined }));
    const samples: number[] = [];
    let writes = 0;
    let fills = 0;
    const runMs = 10_000;
    const stopWritesAt = Date.now() + runMs;
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; Date.now() < stopWritesAt; n++) {
        for (let i = w; i < KEYS && Date.now() < stopWritesAt; i += WRITERS) {
          const sentAt = Date.now();
          if (!(await put(a, NS, keys[i], `a-${w}-${n}`))) continue;
          const ackAt = Date.now();
          writes++;
          const st = state[i];
          if (st.filled && sentAt > st.fillAckAt && st.staleSince === undefined) st.staleSince = ackAt;
        }
      }
    };
    let readersStop = stopWritesAt + 5000;
    // Each pass reads every key of the reader that A has written since its fill (those are the
    // ones whose staleness is being timed, so they are read back to back) and one other key in turn.
    const reader = async (r: number): Promise<void> => {
      const own = keys.map((_, i) => i).filter((i) => i % READERS === r);
      for (let pass = 0; Date.now() < readersStop; pass++) {
        const other = own[pass % own.length];
        for (const i of own) {
          const st = state[i];
          if (st.filled && st.staleSince === undefined && i !== other) continue;
          if (!st.filled) {
            if (Date.now() >= stopWritesAt) continue; // no new fills once the writes stop
            if (await put(b, NS, keys[i], `b-fill-${fills++}`)) {
              st.fillAckAt = Date.now();
              st.staleSince = undefined;
              st.filled = true;
            }
            continue;
          }
          const got = await get(b, NS, keys[i]);
          if (got.hit) continue;
          const at = Date.now();
          if (st.staleSince !== undefined) samples.push(at - st.staleSince);
          st.filled = false;
          st.staleSince = undefined;
        }
        if (Date.now() > stopWritesAt && state.every((s) => s.staleSince === undefined)) readersStop = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), ...Array.from({ length: READERS }, (_, r) => reader(r))]);
    // A fill still stale when the readers gave up counts with its age so far.
    const end = Date.now();
    for (const s of state) if (s.staleSince !== undefined) samples.push(end - s.staleSince);
    samples.sort((x, y) => x - y);
    const figures = {
      writesPerSecond: Math.round(writes / (runMs / 1000)), samples: samples.length,
      p50Ms: percentile(samples, 50) ?? 0, p99Ms: percentile(samples, 99) ?? 0, worstMs: samples.at(-1) ?? 0,
      lag: (await regionsReport(b)).received.find((x: any) => x.from === 'a'),
    };
    console.log(`regions staleness under load: ${JSON.stringify(figures)}`);
    expect(samples.length).toBeGreaterThan(100);
    expect(figures.worstMs).toBeLessThan(STALENESS_BOUND_MS);
  });

  test(`link cut for ${CUT_MS / 1000} s with writes going on, A's primary SIGTERMed then its successor SIGKILLed and both restarted: after the restore B converges within ${CONVERGE_BOUND_MS} ms, no invalidation lost`, async () => {
    await waitFor('A\'s spools to drain', () => drained(a, 'b'), 15_000, 50);
    const termKeys = Array.from({ length: 20 }, (_, i) => `term${i}`);
    const killKeys = Array.from({ length: 20 }, (_, i) => `kill${i}`);
    const all = [...keys, ...termKeys, ...killKeys];
    for (const k of all) expect(await put(b, NS, k, 'b-before-cut')).toBe(true);

    relay.cut();
    const cutAt = Date.now();
    let writes = 0;
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        for (let i = w; i < KEYS && !stop; i += WRITERS) {
          if (await put(a, NS, keys[i], `cut-${w}-${n}`)) writes++;
          else await sleep(20); // a failover: retry shortly
          await sleep(10);
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));

    // Mid-outage, the primary holding acknowledged invalidations is stopped (SIGTERM) and restarted.
    await sleep(3000);
    /** A's primary acknowledges `keys`, then is stopped with `signal` and restarted: who it was, its spool depth, the restart's time. */
    const writeThenRestart = async (keys: readonly string[], value: string, timeoutMs: number, signal: 'SIGTERM' | 'SIGKILL') => {
      for (const k of keys) await waitFor(`A to acknowledge ${k}`, () => put(a, NS, k, value), timeoutMs, 50);
      const victim = await primaryOf(a);
      const depth = (await victim.stats()).regions[0].depth as number;
      const t0 = Date.now();
      await restartNode(a, victim, signal);
      return { nodeId: victim.nodeId, depth, ms: Date.now() - t0 };
    };
    const term = await writeThenRestart(termKeys, 'a-term', 10_000, 'SIGTERM');
    // And then the new primary is killed (-9) after acknowledging more, and restarted.
    const kill = await writeThenRestart(killKeys, 'a-kill', 15_000, 'SIGKILL');
    expect(kill.nodeId).not.toBe(term.nodeId); // the survivor of the SIGTERM, not the restarted node

    // Nothing reached B while cut.
    for (const k of [...termKeys, ...killKeys]) expect(await get(b, NS, k)).toMatchObject({ hit: true, value: 'b-before-cut' });
    await sleep(Math.max(0, cutAt + CUT_MS - Date.now()));
    stop = true;
    await Promise.all(writers);
    const spooled = await Promise.all(a.nodes.map(async (n) => ({ node: n.nodeId, depth: (await n.stats()).regions[0].depth })));
    relay.restore();
    const restoredAt = Date.now();

    // B converges: every key A holds is gone in B (B never held A's values) or equal to it.
    const aState = new Map<string, unknown>();
    for (const k of all) {
      const got = await get(a, NS, k);
      if (got.hit) aState.set(k, got.value);
    }
    let behind: string[] = [];
    for (;;) {
      behind = [];
      for (const k of all) {
        const got = await get(b, NS, k);
        if (got.hit && (!aState.has(k) || got.value !== aState.get(k)) && (aState.has(k) || termKeys.includes(k) || killKeys.includes(k))) behind.push(k);
      }
      if (behind.length === 0 || Date.now() - restoredAt > CONVERGE_BOUND_MS + 5000) break;
      await sleep(50);
    }
    const convergeMs = Date.now() - restoredAt;
    const report = (await regionsReport(b)).received.find((x: any) => x.from === 'a');
    console.log(`regions cut ${CUT_MS / 1000} s: ${JSON.stringify({ writesDuringCut: writes, spooled, termDepth: term.depth, killDepth: kill.depth, termRestartMs: term.ms, killRestartMs: kill.ms, convergeMs, behind: behind.length, received: report })}`);
    expect(behind).toEqual([]);
    expect(convergeMs).toBeLessThan(CONVERGE_BOUND_MS);
    // The restarted senders lost nothing: every key acknowledged before their stop is invalidated in B.
    for (const k of [...termKeys, ...killKeys]) expect((await get(b, NS, k)).hit).toBe(false);
    await waitFor('A\'s spools to drain', () => drained(a, 'b'), 15_000, 50);
  });

  test('version guard: an invalidation held back past a newer write in B does not remove it', async () => {
    await waitFor('A\'s spools to drain', () => drained(a, 'b'), 15_000, 50);
    for (const k of ['vg-new', 'vg-control']) expect(await put(b, NS, k, 'b-old')).toBe(true);
    const keptBefore = (await regionsReport(b)).received.find((x: any) => x.from === 'a')?.kept ?? 0;
    relay.cut();
    expect(await put(a, NS, 'vg-new', 'a-write')).toBe(true);
    expect(await put(a, NS, 'vg-control', 'a-write')).toBe(true);
    await sleep(300); // well past the node's 10 ms version-timeline resolution
    expect(await put(b, NS, 'vg-new', 'b-newer')).toBe(true);
    await sleep(500);
    relay.restore();
    await waitFor('A\'s spools to drain', () => drained(a, 'b'), 15_000, 50);
    expect((await get(b, NS, 'vg-control')).hit).toBe(false);
    expect(await get(b, NS, 'vg-new')).toMatchObject({ hit: true, value: 'b-newer' });
    const kept = (await regionsReport(b)).received.find((x: any) => x.from === 'a').kept;
    expect(kept).toBeGreaterThan(keptBefore);
  });

  test('a spool overflow (--region-spool-max 100) invalidates the namespace wholesale in B, and says so', async () => {
    const written = Array.from({ length: 150 }, (_, i) => `s${i}`);
    const untouched = Array.from({ length: 10 }, (_, i) => `other${i}`);
    for (const k of [...written, ...untouched]) expect(await put(b, SPILL_NS, k, 'b-value')).toBe(true);
    const wholesaleBefore = (await regionsReport(b)).received.find((x: any) => x.from === 'c')?.wholesale ?? 0;
    relayC.cut();
    for (const k of written) expect(await put(c, SPILL_NS, k, 'c-value')).toBe(true);
    const [node] = c.nodes;
    const spilled = await waitFor('the spool to overflow', async () => {
      const s = (await node.stats()).regions[0];
      return s.overflows >= 1 ? s : undefined;
    }, 5000, 20);
    for (const k of untouched) expect((await get(b, SPILL_NS, k)).hit).toBe(true);
    relayC.restore();
    const restoredAt = Date.now();
    await waitFor('the namespace to be gone in B', async () => {
      for (const k of [...written, ...untouched]) if ((await get(b, SPILL_NS, k)).hit) return false;
      return true;
    }, CONVERGE_BOUND_MS, 50);
    const received = (await regionsReport(b)).received.find((x: any) => x.from === 'c');
    console.log(`regions spool overflow: ${JSON.stringify({ sender: spilled, wholesaleAtB: received.wholesale, clearedMs: Date.now() - restoredAt })}`);
    expect(received.wholesale).toBeGreaterThan(wholesaleBefore);
    expect((await node.stats()).regions[0].overflows).toBeGreaterThanOrEqual(1);
  });
});
