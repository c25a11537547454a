import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { runInteractive, type TopTerminal } from '../../control-plane/cli/top-command';
import { counterDelta, nodeCounters, nodeRates, proxyCounters, proxyRates } from '../../control-plane/sample/rates';
import { mergeHotKeys, proxyBaseUrl, type ClusterFrame } from '../../control-plane/sample/sampler';
import { formatBytes, formatPercent, formatRate, keyAction, renderTop, screenText } from '../../control-plane/cli/top-view';

describe('top rates (pure)', () => {
  test('client ops are summed from STATS, internal ops left out; evictions are memory + quota; expirations from expired', () => {
    const stats = {
      hits: 7, misses: 3, evictedMemory: 2, evictedQuota: 1, expired: 4, items: 10,
      ops: { get: 10, set: 5, mget: 1, ping: 100, stats: 40, hello: 3, repl_sync: 9, migrate_pull: 4, slot_stats: 2, subscribe_invalidations: 1 },
    };
    expect(nodeCounters(stats)).toEqual({ ops: 16, hits: 7, misses: 3, evictions: 3, expirations: 4 });
    expect(nodeCounters({})).toEqual({ ops: 0, hits: 0, misses: 0, evictions: 0, expirations: 0 });
  });

  test('rates are deltas per second over the elapsed time', () => {
    const prev = { ops: 100, hits: 10, misses: 10, evictions: 0, expirations: 1 };
    const cur = { ops: 600, hits: 40, misses: 20, evictions: 5, expirations: 3 };
    expect(nodeRates(prev, cur, 500)).toEqual({ opsPerSec: 1000, hitRatio: 0.75, lookupsPerSec: 80, evictionsPerSec: 10, expirationsPerSec: 4 });
  });

  const none = { opsPerSec: null, hitRatio: null, lookupsPerSec: null, evictionsPerSec: null, expirationsPerSec: null };

  test('no previous read, no time elapsed or no lookups: unknown (null), never NaN', () => {
    const c = { ops: 5, hits: 1, misses: 1, evictions: 0, expirations: 0 };
    expect(nodeRates(undefined, c, 1000)).toEqual(none);
    expect(nodeRates(c, c, 0)).toEqual(none);
    expect(nodeRates(c, c, 1000)).toEqual({ opsPerSec: 0, hitRatio: null, lookupsPerSec: 0, evictionsPerSec: 0, expirationsPerSec: 0 });
  });

  test('a counter that went down was reset (restart): everything since counts', () => {
    expect(counterDelta(100, 30)).toBe(30);
    expect(counterDelta(30, 100)).toBe(70);
    expect(nodeRates({ ops: 1000, hits: 50, misses: 50, evictions: 9, expirations: 9 }, { ops: 200, hits: 3, misses: 1, evictions: 0, expirations: 2 }, 1000))
      .toEqual({ opsPerSec: 200, hitRatio: 0.75, lookupsPerSec: 4, evictionsPerSec: 0, expirationsPerSec: 2 });
  });

  test('proxy: requests/s and error rate from /metrics text', () => {
    const text = [
      '# HELP shardcache_proxy_requests_total Requests answered',
      '# TYPE shardcache_proxy_requests_total counter',
      'shardcache_proxy_requests_total{front="http",op="get",namespace="app",code="ok"} 90',
      'shardcache_proxy_requests_total{front="resp",op="set",namespace="app",code="ok"} 6',
      'shardcache_proxy_requests_total{front="http",op="get",namespace="app",code="UNAVAILABLE"} 4',
      'shardcache_proxy_requests_in_flight{front="http"} 3',
      'shardcache_proxy_request_duration_seconds_count{front="http",op="get"} 100',
    ].join('\n');
    expect(proxyCounters(text)).toEqual({ requests: 100, errors: 4, latency: [] });
    const zero = { requests: 0, errors: 0, latency: [] };
    const cur = { requests: 100, errors: 4, latency: [] };
    expect(proxyRates(zero, cur, 2000)).toEqual({ requestsPerSec: 50, errorRate: 0.04, errorsPerSec: 2, p99Ms: null });
    expect(proxyRates(undefined, cur, 2000)).toEqual({ requestsPerSec: null, errorRate: null, errorsPerSec: null, p99Ms: null });
    expect(proxyRates(cur, cur, 1000)).toEqual({ requestsPerSec: 0, errorRate: null, errorsPerSec: 0, p99Ms: null });
  });
});

describe('top view', () => {
  test('formats', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(64 * 1024 ** 2), formatBytes(3 * 1024 ** 3)]).toEqual(['512b', '1.5kb', '64.0mb', '3.0gb']);
    expect([formatRate(null), formatRate(0), formatRate(2.345), formatRate(1234.6)]).toEqual(['-', '0', '2.3', '1235']);
    expect([formatPercent(null), formatPercent(0.9876)]).toEqual(['-', '98.8%']);
  });

  test('proxy addresses and hot keys merged over proxies', () => {
    expect(proxyBaseUrl('127.0.0.1:9000')).toBe('http://127.0.0.1:9000');
    expect(proxyBaseUrl('https://p:1/')).toBe('https://p:1');
    const merged = mergeHotKeys([
      { top: [{ namespace: 'a', key: 'k1', qps: 10, mode: 'none' }, { namespace: 'a', key: 'k2', qps: 50, mode: 'near-cache' }] },
      { top: [{ namespace: 'a', key: 'k1', qps: 45, mode: 'none' }, { bogus: true }] },
      undefined,
      { error: 'x' },
    ]);
    expect(merged).toEqual([
      { namespace: 'a', key: 'k1', qps: 55, mode: 'none', proxies: 2 },
      { namespace: 'a', key: 'k2', qps: 50, mode: 'near-cache', proxies: 1 },
    ]);
  });

  const frame: ClusterFrame = {
    cluster: 'c', revision: 9, at: '2030-01-01T12:34:56.000Z', elapsedMs: 1000,
    shards: [
      { shardId: 0, primary: 'n0a', healthy: true, problems: [] },
      { shardId: 1, primary: null, healthy: false, problems: ['no primary'] },
      { shardId: 2, primary: null, healthy: false, problems: ['no primary'] },
    ],
    nodes: [
      { nodeId: 'n0b', addr: 'h:2', shardId: 0, role: 'replica', live: true, error: null, items: 100, memoryBytes: 2048, memoryLimitBytes: 1024 ** 3, opsTotal: 5, opsPerSec: 0, hitRatio: null, lookupsPerSec: 0, evictionsPerSec: 0, expirationsPerSec: 0, replLag: '0b/1ms', replication: null, namespaces: {} },
      { nodeId: 'n0a', addr: 'h:1', shardId: 0, role: 'primary', live: true, error: null, items: 100, memoryBytes: 2048, memoryLimitBytes: 1024 ** 3, opsTotal: 900, opsPerSec: 250, hitRatio: 0.5, lookupsPerSec: 10, evictionsPerSec: 0, expirationsPerSec: 0, replLag: '-', replication: null, namespaces: {} },
      { nodeId: 'n1a', addr: 'h:3', shardId: 1, role: 'replica', live: false, error: 'node h:3 did not answer within 2000 ms', items: null, memoryBytes: null, memoryLimitBytes: null, opsTotal: null, opsPerSec: null, hitRatio: null, lookupsPerSec: null, evictionsPerSec: null, expirationsPerSec: null, replLag: '-', replication: null, namespaces: null },
    ],
    proxies: [{ url: 'http://p:1', error: null, requestsTotal: 10, requestsPerSec: 12.5, errorRate: 0.1, errorsPerSec: 1.25, p99Ms: 3, breakers: {} }],
    hotKeys: [{ namespace: 'app', key: 'hot\x1b[2J', qps: 300, mode: 'none', proxies: 1 }],
  };

  test('one snapshot: primary first within its shard, every shard listed, proxies and hot keys; no escapes without colour', () => {
    const text = renderTop(frame);
    expect(text).not.toContain('\x1b[');
    const lines = text.split('\n');
    expect(lines[0]).toBe('shardctl top  cluster c  revision 9  shards 3 (2 unhealthy)  nodes 3  12:34:56  rates over 1.0s');
    const table = lines.slice(2, 7);
    expect(table[0]).toMatch(/^SHARD +NODE +ROLE +ADDR +OPS\/S +HIT% +MEM USED\/LIMIT +ITEMS +EVICT\/S +REPL LAG +STATE$/);
    expect(table[1]).toMatch(/^0 +n0a +primary +h:1 +250 +50\.0% +2\.0kb\/1\.0gb +100 +0 +-$/);
    expect(table[2]).toMatch(/^0 +n0b +replica +h:2 +0 +- +2\.0kb\/1\.0gb +100 +0 +0b\/1ms$/);
    expect(table[3]).toMatch(/^1 +n1a +replica +h:3 +- +- +- +- +- +- +not live$/);
    expect(table[4]).toMatch(/^2 +- .*no nodes registered$/);
    expect(text).toContain('shard 1 unhealthy: no primary');
    expect(text).toMatch(/http:\/\/p:1 +13 +10\.0%/);
    expect(text).toMatch(/app +hot\\x1b\[2J +300 +none +1/);
  });

  test('with colour the columns stay aligned', () => {
    const plain = renderTop(frame).split('\n');
    const painted = renderTop(frame, { colour: true }).split('\n').map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(painted).toEqual(plain);
  });

  test('keys: q, Q, Ctrl-C and Ctrl-D quit; space and r refresh; others are ignored', () => {
    expect(['q', 'Q', '\x03', '\x04', Buffer.from('q')].map(keyAction)).toEqual(['quit', 'quit', 'quit', 'quit', 'quit']);
    expect([' ', 'r'].map(keyAction)).toEqual(['refresh', 'refresh']);
    expect(['x', '\x1b[A', '\r'].map(keyAction)).toEqual([undefined, undefined, undefined]);
  });

  test('the screen: cursor home, lines cut to the width and cleared, rows bounded', () => {
    expect(screenText('abcdef\nxy', 4)).toBe('\x1b[Habcd\x1b[K\r\nxy\x1b[K\x1b[J');
    expect(screenText('1\n2\n3\n4', undefined, 3)).toBe('\x1b[H1\x1b[K\r\n2\x1b[K\r\n… 2 more lines (a larger terminal shows them)\x1b[K\x1b[J');
  });
});

describe('top interactive loop (fake terminal: stdin a pipe)', () => {
  const frame = { cluster: 'c', revision: 1, at: new Date(0).toISOString(), elapsedMs: null, shards: [], nodes: [], proxies: [], hotKeys: [] } as ClusterFrame;

  function terminal(tty: boolean): { term: TopTerminal; written: string[]; stdin: PassThrough & { isTTY?: boolean; setRawMode?(raw: boolean): unknown }; raw: boolean[]; signals: EventEmitter } {
    const stdin = new PassThrough() as PassThrough & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
    const raw: boolean[] = [];
    if (tty) {
      stdin.isTTY = true;
      stdin.setRawMode = (r: boolean) => raw.push(r);
    }
    const written: string[] = [];
    const signals = new EventEmitter();
    return { term: { stdin, stdout: { write: (t: string) => written.push(t), columns: 80, rows: 24 }, signals }, written, stdin, raw, signals };
  }

  test('q from a pipe quits, after refreshes; the screen is restored', async () => {
    const { term, written, stdin } = terminal(false);
    let reads = 0;
    const done = runInteractive(term, { intervalMs: 20, next: async () => ((reads += 1), frame), render: () => `frame ${reads}` });
    await new Promise((r) => setTimeout(r, 120));
    stdin.write('q');
    await done;
    expect(reads).toBeGreaterThanOrEqual(3);
    expect(written[0]).toContain('\x1b[?1049h');
    expect(written[0]).toContain('\x1b[?25l');
    expect(written.at(-1)).toBe('\x1b[?25h\x1b[?1049l');
    const after = reads;
    await new Promise((r) => setTimeout(r, 60));
    expect(reads).toBe(after); // no refresh after quitting
    expect(stdin.listenerCount('data')).toBe(0);
  });

  test('on a TTY: raw mode on, then off on Ctrl-C; SIGINT and the end of stdin quit too; a failed refresh is shown, not fatal', async () => {
    const tty = terminal(true);
    const a = runInteractive(tty.term, { intervalMs: 1000, next: async () => frame, render: () => 'x' });
    tty.stdin.write('\x03');
    await a;
    expect(tty.raw).toEqual([true, false]);

    const sig = terminal(false);
    const b = runInteractive(sig.term, { intervalMs: 1000, next: async () => frame, render: () => 'x' });
    sig.signals.emit('SIGINT');
    await b;
    expect(sig.written.at(-1)).toBe('\x1b[?25h\x1b[?1049l');

    const ended = terminal(false);
    const c = runInteractive(ended.term, { intervalMs: 1000, next: () => Promise.reject(new Error('etcd gone')), render: () => 'x' });
    await new Promise((r) => setTimeout(r, 20));
    ended.stdin.end();
    await c;
    expect(ended.written.join('')).toContain('refresh failed: etcd gone');
    expect(ended.written.at(-1)).toBe('\x1b[?25h\x1b[?1049l');
  });
});
