import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readStatus, type ClusterLayout } from '../cluster/processes';
import { configureRegion, regionsOf } from '../cluster/regions';
import { REGION_SECRET_ENV } from '../../shared/regions';
import { renderTable } from '../../control-plane/status/table';
import { ChaosCluster } from './cluster';
import { TcpRelay } from '../tcp-relay';
import type { ChaosOptions } from './options';

/**
 * `npm run chaos -- --regions`: the region scenario (issue 18; docs/operations.md "Regions"),
 * run instead of the single-cluster schedule.
 *
 *   region a (1 shard x 2 nodes, a proxy) ──nodes' invalidations──► relay (this process) ──► region b's proxy
 *   writers PUT in a ─► readers in b: GET, and on a miss fill the key in b (a PUT there)
 *   steady ─► cut the relay; restart a's primary (SIGTERM), kill -9 the next one and restart it ─► restore
 *     ─► steady ─► restart b's proxy ─► restart a's proxy ─► steady ─► cut; restart b's primary ─► restore ─► steady
 *   ─► stop the writers, readers until every stale key is gone ─► verdict ─► stop everything
 *
 * What is checked, from the readers' observations: per key, B's fill is stale from the
 * acknowledgement of the first write in A sent after that fill was acknowledged (A applied it
 * later than B's fill) until B no longer serves the fill. A stale interval that touches a fault
 * window (cut → restore, restart begun → done) is that window's: B must converge within
 * CONVERGE_BOUND_MS of the window's end; any other must end within STALENESS_BOUND_MS. At the
 * end no key may stay stale (an invalidation lost). Ports: `--port-base` and the next 20.
 */
export const STALENESS_BOUND_MS = 5000;
export const CONVERGE_BOUND_MS = 10_000;
export const REGION_NS = 'regional';
const KEYS = 100;
const WRITERS = 4;
const READERS = 4;
/** Ports of one region: etcd, etcd peer, control, 2 node + 2 admin ports, proxy http, resp, admin. */
const REGION_PORTS = 10;

/** A fault window: from `at` (the fault began) to `end` (link restored, program healthy again). */
export interface RegionWindow {
  what: string;
  at: number;
  end: number;
  /** Slowest convergence of the keys stale across this window: resolved − end, ms (0 when none). */
  convergeMs: number;
  staleKeys: number;
}

export interface RegionVerdict {
  ok: boolean;
  writes: number;
  fills: number;
  /** Stale intervals outside every window: count, p50/p99/worst ms. */
  samples: number;
  p50Ms: number;
  p99Ms: number;
  worstMs: number;
  windows: RegionWindow[];
  /** Keys still stale at the end (lost invalidations). */
  unresolved: string[];
  /** Sender figures of A's nodes at the end, and what B's proxy received. */
  senders: unknown[];
  received: unknown;
  invariants: Array<{ name: string; ok: boolean; detail: string }>;
  startedAt: number;
  /** The longest stale intervals outside the windows: key, ms after the load started, length. */
  slowest: Array<{ key: string; at: number; ms: number }>;
}

interface KeyState {
  filled: boolean;
  fillAckAt: number;
  staleSince: number | undefined;
}

function layoutOf(base: number, cluster: string, dataDir: string, o: ChaosOptions): ClusterLayout {
  return {
    etcdPort: base, etcdPeerPort: base + 1, controlPort: base + 2, nodeBasePort: base + 3, nodeAdminBasePort: base + 5,
    proxies: [{ httpPort: base + 7, respPort: base + 8, adminPort: base + 9 }], shards: 1, replicas: 1, leaseTtl: o.leaseTtl, cluster,
    nodeDataDir: path.join(dataDir, 'nodes'),
  };
}

const pct = (sorted: number[], p: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);

async function call(url: string, method: 'GET' | 'PUT', value?: string): Promise<{ ok: boolean; hit?: boolean }> {
  try {
    const res = await fetch(url, {
      method, signal: AbortSignal.timeout(5000),
      ...(value === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }) }),
    });
    const body = (await res.json()) as { hit?: boolean };
    return { ok: res.ok, hit: body.hit };
  } catch {
    return { ok: false };
  }
}

/** Runs the scenario; resolves with the exit status (0: every invariant held, 1: one failed). */
export async function runRegionScenario(o: ChaosOptions, say: (text: string) => void): Promise<number> {
  const dataDir = o.dataDir ? path.resolve(o.dataDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-chaos-regions-'));
  process.env[REGION_SECRET_ENV] ??= crypto.randomBytes(32).toString('hex'); // every program of both regions inherits it
  const a = new ChaosCluster(layoutOf(o.portBase, 'region-a', path.join(dataDir, 'a'), o), path.join(dataDir, 'a'), (t) => say(`a: ${t}`));
  const b = new ChaosCluster(layoutOf(o.portBase + REGION_PORTS, 'region-b', path.join(dataDir, 'b'), o), path.join(dataDir, 'b'), (t) => say(`b: ${t}`));
  const bHttp = b.layout.proxies[0].httpPort;
  const relay = await TcpRelay.start(bHttp, o.portBase + 2 * REGION_PORTS);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= (async () => {
    await relay.close().catch(() => undefined);
    await Promise.all([a.close(), b.close()]);
  })());
  process.once('exit', () => {
    a.killAll();
    b.killAll();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping every program`);
      void close().then(() => process.exit(130));
    });
  }
  const hardLimitMs = (o.maxSeconds ?? 240) * 1000;
  const hard = setTimeout(() => {
    say(`the run passed its hard limit of ${hardLimitMs / 1000} s; stopping`);
    void close().then(() => process.exit(2));
  }, hardLimitMs);
  hard.unref();
  try {
    say(`region scenario: regions a and b (1 shard x 2 nodes, a proxy each), a's invalidations to b through a relay on 127.0.0.1:${relay.port}; data and logs in ${dataDir}`);
    await Promise.all([a.start([], 60), b.start([], 60)]);
    const aHttp = `http://127.0.0.1:${a.layout.proxies[0].httpPort}`;
    const bUrl = `http://127.0.0.1:${bHttp}`;
    const bAdmin = `http://127.0.0.1:${b.layout.proxies[0].adminPort}`;
    await configureRegion(a.etcd, a.layout.cluster, 'a', [{ name: 'b', endpoint: `http://127.0.0.1:${relay.port}` }], [REGION_NS]);
    await configureRegion(b.etcd, b.layout.cluster, 'b', [{ name: 'a', endpoint: aHttp }], [REGION_NS]);
    for (const end = Date.now() + 20_000; ; await sleep(100)) {
      if ((await regionsOf(bAdmin))?.received.some((r) => r.from === 'a')) break;
      if (Date.now() > end) throw new Error('region b never heard from region a (see the nodes\' logs)');
    }
    // A heartbeat says a's nodes know b; the namespace's policy may come in a later watch event.
    // The load starts once a write of the namespace in a has reached b as an invalidation.
    const received = async (): Promise<number> => {
      const from = (await regionsOf(bAdmin))?.received.find((r) => r.from === 'a');
      return from === undefined ? 0 : from.applied + from.kept;
    };
    const before = await received();
    for (const end = Date.now() + 20_000; ; await sleep(100)) {
      await fetch(`${aHttp}/v1/cache/${REGION_NS}/probe`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"value":"probe"}', signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      await sleep(100);
      if ((await received()) > before) break;
      if (Date.now() > end) throw new Error(`region b got no invalidation of namespace ${REGION_NS} from region a (see the nodes' logs)`);
    }
    process.stdout.write(`${JSON.stringify({ event: 'ready', regions: { a: a.etcd, b: b.etcd }, relay: relay.port, pids: [...a.pids, ...b.pids] })}\n`);
    const verdict = await scenario(a, b, relay, aHttp, bUrl, bAdmin, say);
    printVerdict(verdict);
    if (o.reportJson) fs.writeFileSync(o.reportJson, JSON.stringify({ scenario: 'regions', verdict, pids: [...a.pids, ...b.pids] }, null, 2));
    await close();
    if (!o.dataDir && verdict.ok) fs.rmSync(dataDir, { recursive: true, force: true });
    else say(`logs kept in ${dataDir}`);
    return verdict.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).stack ?? (err as Error).message}\n`);
    if (o.reportJson) fs.writeFileSync(o.reportJson, JSON.stringify({ scenario: 'regions', error: (err as Error).message, pids: [...a.pids, ...b.pids] }, null, 2));
    await close();
    say(`logs kept in ${dataDir}`);
    return 2;
  } finally {
    clearTimeout(hard);
  }
}

async function scenario(a: ChaosCluster, b: ChaosCluster, relay: TcpRelay, aHttp: string, bUrl: string, bAdmin: string, say: (t: string) => void): Promise<RegionVerdict> {
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);
  const state: KeyState[] = keys.map(() => ({ filled: false, fillAckAt: 0, staleSince: undefined }));
  /** Stale intervals: [A's ack, B no longer serving], and the key. */
  const intervals: Array<{ key: string; from: number; to: number }> = [];
  const windows: Array<{ what: string; at: number; end: number }> = [];
  let writes = 0;
  let fills = 0;
  let writing = true;
  let reading = true;
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; writing; n++) {
      for (let i = w; i < KEYS && writing; i += WRITERS) {
        const sentAt = Date.now();
        const res = await call(`${aHttp}/v1/cache/${REGION_NS}/${keys[i]}`, 'PUT', `a-${w}-${n}`);
        if (!res.ok) {
          await sleep(50);
          continue;
        }
        writes++;
        const st = state[i];
        if (st.filled && sentAt > st.fillAckAt && st.staleSince === undefined) st.staleSince = Date.now();
        await sleep(5);
      }
    }
  };
  const reader = async (r: number): Promise<void> => {
    const own = keys.map((_, i) => i).filter((i) => i % READERS === r);
    for (let pass = 0; reading; pass++) {
      const other = own[pass % own.length];
      for (const i of own) {
        const st = state[i];
        if (st.filled && st.staleSince === undefined && i !== other) continue;
        const url = `${bUrl}/v1/cache/${REGION_NS}/${keys[i]}`;
        if (!st.filled) {
          if (!writing) continue;
          const res = await call(url, 'PUT', `b-fill-${fills++}`);
          if (res.ok) Object.assign(st, { filled: true, fillAckAt: Date.now(), staleSince: undefined });
          continue;
        }
        const res = await call(url, 'GET');
        if (!res.ok || res.hit) continue;
        if (st.staleSince !== undefined) intervals.push({ key: keys[i], from: st.staleSince, to: Date.now() });
        Object.assign(st, { filled: false, staleSince: undefined });
      }
      await sleep(pass % 10 === 0 ? 5 : 0);
    }
  };
  const primaryOf = async (c: ChaosCluster): Promise<string> => {
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(100)) {
      const doc = await readStatus(c.etcd, c.layout.cluster).catch(() => undefined);
      const p = doc?.shards[0]?.primary?.nodeId;
      if (p) return p;
    }
    throw new Error(`${c.layout.cluster} has no primary`);
  };
  const window = async (what: string, act: () => Promise<void>): Promise<void> => {
    const at = Date.now();
    say(`fault: ${what}`);
    await act();
    windows.push({ what, at, end: Date.now() });
  };
  const loadStartedAt = Date.now();
  const loops = [...Array.from({ length: WRITERS }, (_, w) => writer(w)), ...Array.from({ length: READERS }, (_, r) => reader(r))];

  await sleep(8000);
  await window('link cut 10 s; a\'s primary restarted (SIGTERM), then the next primary killed -9 and restarted', async () => {
    relay.cut();
    const restoreAt = Date.now() + 10_000;
    await sleep(1500);
    await a.restart(await primaryOf(a));
    await sleep(1500);
    const second = await primaryOf(a);
    await a.kill(second);
    await a.restart(second);
    await sleep(Math.max(0, restoreAt - Date.now()));
    relay.restore();
  });
  await sleep(5000);
  await window('b\'s proxy restarted', () => b.restart(b.proxyNames[0]));
  await sleep(3000);
  await window('a\'s proxy restarted', () => a.restart(a.proxyNames[0]));
  await sleep(5000);
  await window('link cut 5 s; b\'s primary restarted (empty)', async () => {
    relay.cut();
    const restoreAt = Date.now() + 5000;
    await b.restart(await primaryOf(b));
    await sleep(Math.max(0, restoreAt - Date.now()));
    relay.restore();
  });
  await sleep(CONVERGE_BOUND_MS);
  writing = false;
  const stoppedAt = Date.now();
  // The readers go on until no key is stale, for at most the convergence bound.
  while (state.some((s) => s.staleSince !== undefined) && Date.now() - stoppedAt < CONVERGE_BOUND_MS) await sleep(50);
  reading = false;
  await Promise.all(loops);
  const unresolved = keys.filter((_, i) => state[i].staleSince !== undefined);

  // Each stale interval is a window's (it touches one) or a sample of the staleness outside them.
  const samples: number[] = [];
  const outside: Array<{ key: string; from: number; to: number }> = [];
  const judged = windows.map((w) => ({ ...w, convergeMs: 0, staleKeys: 0 }));
  for (const iv of intervals) {
    const w = judged.find((x) => iv.from <= x.end && iv.to >= x.at);
    if (w) {
      w.staleKeys++;
      w.convergeMs = Math.max(w.convergeMs, iv.to - w.end);
    } else {
      samples.push(iv.to - iv.from);
      outside.push(iv);
    }
  }
  samples.sort((x, y) => x - y);
  const worstMs = samples.at(-1) ?? 0;
  const senders = await Promise.all(a.nodes.map(async (n) => {
    const res = await fetch(`${n.adminUrl}/metrics`).then((r) => r.text(), () => '');
    const depth = /shardcache_region_spool_depth\{[^}]*\} (\S+)/.exec(res)?.[1];
    return { node: n.nodeId, spoolDepth: depth === undefined ? null : Number(depth) };
  }));
  const received = (await regionsOf(bAdmin))?.received.find((r) => r.from === 'a') ?? null;
  const invariants = [
    { name: 'staleness outside fault windows', ok: worstMs <= STALENESS_BOUND_MS && samples.length > 0, detail: `worst ${worstMs} ms, p99 ${pct(samples, 99)} ms over ${samples.length} stale intervals (bound ${STALENESS_BOUND_MS} ms)` },
    ...judged.map((w) => ({ name: `convergence after: ${w.what}`, ok: w.convergeMs <= CONVERGE_BOUND_MS, detail: `${w.staleKeys} keys stale across it, the last gone ${w.convergeMs} ms after it ended (bound ${CONVERGE_BOUND_MS} ms)` })),
    { name: 'no invalidation lost', ok: unresolved.length === 0, detail: unresolved.length === 0 ? 'every key stale in b was invalidated' : `${unresolved.length} keys still stale in b: ${unresolved.slice(0, 10).join(', ')}` },
  ];
  return {
    ok: invariants.every((i) => i.ok), writes, fills, samples: samples.length, p50Ms: pct(samples, 50), p99Ms: pct(samples, 99), worstMs,
    windows: judged, unresolved, senders, received, invariants, startedAt: loadStartedAt,
    slowest: outside.sort((x, y) => (y.to - y.from) - (x.to - x.from)).slice(0, 5).map((iv) => ({ key: iv.key, at: iv.from - loadStartedAt, ms: iv.to - iv.from })),
  };
}

function printVerdict(v: RegionVerdict): void {
  const first = v.windows[0]?.at ?? 0;
  const lines = [
    '',
    `chaos regions report: ${v.writes} writes in a, ${v.fills} fills in b; staleness of b behind a's acknowledged writes outside fault windows: p50 ${v.p50Ms} ms, p99 ${v.p99Ms} ms, worst ${v.worstMs} ms over ${v.samples} intervals`,
    '',
    renderTable(['WINDOW', 'AT', 'LASTED', 'STALE KEYS', 'CONVERGED'], v.windows.map((w) => [w.what, `+${((w.at - first) / 1000).toFixed(1)}s`, `${w.end - w.at} ms`, String(w.staleKeys), `${w.convergeMs} ms after`])),
    '',
    `received by b from a: ${JSON.stringify(v.received)}`,
    `slowest stale intervals outside the windows (ms after the load started): ${v.slowest.map((s) => `${s.key} at +${s.at}: ${s.ms} ms`).join(', ') || 'none'}`,
    `windows (ms after the load started): ${v.windows.map((w) => `${w.at - v.startedAt}..${w.end - v.startedAt}`).join(', ')}`,
    'invariants:',
    ...v.invariants.map((i) => `  ${i.ok ? 'PASS' : 'FAIL'}  ${i.name}: ${i.detail}`),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
