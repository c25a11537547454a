import { getExOptions, int64Arg, keyArg, setOptions, ttlMsOf } from '../../proxy/front/resp/args';
import { globMatch } from '../../proxy/front/resp/glob';
import { respErrorLine, RespCommandError, unknownCommandLine } from '../../proxy/front/resp/errors';
import { batches, settleAll } from '../../proxy/front/resp/fanout';
import { bytesToHuman, INFO_SECTIONS, infoSections, infoText } from '../../proxy/front/resp/info';
import { array, bulk, bulkArray, bulkValues, error, integer, map, Replies, resp3Nulls, simple } from '../../proxy/front/resp/reply';
import { BATCH_HOLD_BYTES, ReplyQueue } from '../../proxy/front/resp/reply-queue';
import { thrownBy } from '../helpers/thrown';
import { twoShardSnapshot } from './proxy-front-fake-backend';

const text = (b: Buffer): string => b.toString('latin1');
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('reply encoding (exact bytes)', () => {
  test('status, error, integer, bulk, null and arrays', () => {
    expect(text(simple('OK'))).toBe('+OK\r\n');
    expect(text(simple('a\r\nb'))).toBe('+a  b\r\n');
    expect(text(error('ERR syntax error'))).toBe('-ERR syntax error\r\n');
    expect(text(error('ERR bad\nline'))).toBe('-ERR bad line\r\n');
    expect(text(integer(0))).toBe(':0\r\n');
    expect(text(integer(-2))).toBe(':-2\r\n');
    expect(text(integer(2n ** 63n - 1n))).toBe(':9223372036854775807\r\n');
    for (const n of [2, 9, 10, 99, 100, 12345, -1, -10, -99999, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60, -(2 ** 60), 1.5, -7.9]) {
      expect(text(integer(n))).toBe(`:${Math.trunc(n)}\r\n`);
    }
    expect(text(bulk('héllo'))).toBe('$6\r\nh\xc3\xa9llo\r\n');
    expect(text(bulk(Buffer.alloc(0)))).toBe('$0\r\n\r\n');
    expect(text(bulk(null))).toBe('$-1\r\n');
    expect(text(array(null))).toBe('*-1\r\n');
    expect(text(array([]))).toBe('*0\r\n');
    expect(text(array([integer(1), bulk('a'), array([Replies.OK])]))).toBe('*3\r\n:1\r\n$1\r\na\r\n*1\r\n+OK\r\n');
  });

  test('bulk arrays mix values and nulls in one buffer, binary safe', () => {
    const bin = Buffer.from([0, 13, 10, 255]);
    expect(bulkArray(['a', null, bin, ''])).toEqual(Buffer.concat([B('*4\r\n$1\r\na\r\n$-1\r\n$4\r\n'), bin, B('\r\n$0\r\n\r\n')]));
    expect(text(bulkArray([]))).toBe('*0\r\n');
  });
});

describe('arguments', () => {
  test('keys as their UTF-8 text: ASCII, multi-byte and invalid bytes', () => {
    for (const key of ['', 'k', 'user:1234', '{tag}x', 'a\x00b\x7f', 'ключ', 'clé:é', '鍵🔑']) {
      const bytes = Buffer.from(key, 'utf8');
      const inChunk = Buffer.concat([Buffer.from('$9\r\n'), bytes, Buffer.from('\r\n')]).subarray(4, 4 + bytes.length);
      expect(keyArg(bytes)).toBe(key);
      expect(keyArg(inChunk)).toBe(key);
    }
    for (const bad of ['ff', '61c3', 'c328', 'e282', 'eda080']) {
      expect(thrownBy(() => keyArg(Buffer.from(bad, 'hex')), RespCommandError).line).toBe('ERR keys must be valid UTF-8 text in shardcache');
    }
  });

  test('integers as Redis reads them', () => {
    expect(int64Arg(B('0'))).toBe(0n);
    expect(int64Arg(B('-9223372036854775808'))).toBe(-(2n ** 63n));
    for (const bad of ['', '+1', '01', '-0', ' 1', '1.5', '9223372036854775808', '1e3']) {
      expect(thrownBy(() => int64Arg(B(bad)), RespCommandError).line).toBe('ERR value is not an integer or out of range');
    }
  });

  test('SET options: any order, repeats allowed, rivals refused, expiry checked last', () => {
    const now = 1_000_000;
    const parse = (...args: string[]) => setOptions(args.map(B), now);
    expect(parse()).toEqual({ keepTtl: false, get: false });
    expect(parse('nx', 'GET', 'ex', '10')).toEqual({ cond: 'NX', get: true, keepTtl: false, ttlMs: 10_000 });
    expect(parse('PX', '5', 'XX', 'XX')).toEqual({ cond: 'XX', get: false, keepTtl: false, ttlMs: 5 });
    expect(parse('KEEPTTL')).toEqual({ keepTtl: true, get: false });
    expect(parse('EXAT', String(now / 1000 + 3))).toMatchObject({ ttlMs: 3000 });
    expect(parse('PXAT', '5')).toMatchObject({ ttlMs: 1 });
    for (const bad of [['NX', 'XX'], ['EX', '1', 'PX', '1'], ['KEEPTTL', 'EX', '1'], ['EX'], ['FOO'], ['EX', 'x', 'NX', 'XX']]) {
      expect(thrownBy(() => parse(...bad), RespCommandError).line).toBe('ERR syntax error');
    }
    expect(thrownBy(() => parse('EX', 'x'), RespCommandError).line).toBe('ERR value is not an integer or out of range');
    expect(thrownBy(() => parse('EX', '0'), RespCommandError).line).toBe("ERR invalid expire time in 'set' command");
    expect(thrownBy(() => parse('EX', '9223372036854775807'), RespCommandError).line).toBe("ERR invalid expire time in 'set' command");
  });

  test('GETEX options', () => {
    expect(getExOptions([], 0)).toEqual({ kind: 'none' });
    expect(getExOptions([B('persist')], 0)).toEqual({ kind: 'persist' });
    expect(getExOptions([B('PX'), B('20')], 0)).toEqual({ kind: 'expire', ttlMs: 20 });
    expect(thrownBy(() => getExOptions([B('PERSIST'), B('EX'), B('1')], 0), RespCommandError).line).toBe('ERR syntax error');
    expect(thrownBy(() => ttlMsOf('EX', B('-1'), 'getex', 0), RespCommandError).line).toBe("ERR invalid expire time in 'getex' command");
  });
});

describe('errors', () => {
  test('one table from proxy codes to RESP error lines', () => {
    expect(respErrorLine({ code: 'NOT_INTEGER', message: 'value is not an integer' })).toBe('ERR value is not an integer or out of range');
    expect(respErrorLine({ code: 'OVERFLOW', message: 'x' })).toBe('ERR increment or decrement would overflow');
    expect(respErrorLine({ code: 'BAD_REQUEST', message: 'key must be short' })).toBe('ERR key must be short');
    expect(respErrorLine({ code: 'OVER_QUOTA', message: 'namespace over quota' })).toBe('OOM namespace over quota');
    expect(respErrorLine({ code: 'NODE_UNAVAILABLE', message: 'breaker open' })).toBe('CLUSTERDOWN breaker open');
    expect(respErrorLine({ code: 'TIMEOUT', message: 'no answer' })).toBe('TIMEOUT no answer');
    expect(respErrorLine({ code: 'INTERNAL', message: 'secret detail' })).toBe('ERR internal error in the proxy; see its log');
  });

  test("unknown commands quote up to 128 characters of arguments, as Redis does", () => {
    expect(unknownCommandLine('foo', [B('foo'), B('a'), B('b')])).toBe("ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
    expect(unknownCommandLine('FOO', [B('FOO')])).toBe("ERR unknown command 'FOO', with args beginning with: ");
    const long = unknownCommandLine('x', [B('x'), B('a'.repeat(200)), B('b')]);
    expect(long).toBe(`ERR unknown command 'x', with args beginning with: '${'a'.repeat(128)}' `);
  });
});

describe('CONFIG GET patterns', () => {
  test.each([
    ['save', 'save', true], ['SAVE', 'save', true], ['*', 'appendonly', true], ['app*', 'appendonly', true], ['s?ve', 'save', true],
    ['[sp]ort', 'port', true], ['[^p]ort', 'port', false], ['sav', 'save', false], ['a.pendonly', 'appendonly', false], ['[z-a]', 'a', false],
  ])('%s matches %s: %p', (pattern, name, matches) => {
    expect(globMatch(pattern, name, true)).toBe(matches);
  });
});

describe('INFO text', () => {
  const facts = {
    redisVersion: '7.0.0', port: 6380, uptimeSeconds: 90_000, namespace: 'app',
    stats: { connectionsTotal: 3, connected: 1, commands: 10, protocolErrors: 0, rejected: 5, hits: 4, misses: 2 }, snapshot: twoShardSnapshot(),
    maxClients: 100, opsPerSec: 42, cpu: { user: 1_500_000, system: 250 },
  };
  test('sections in Redis format with shardcache figures in keyspace', () => {
    const all = infoText(facts, []);
    expect(all).toMatch(/^# Server\r\nredis_version:7\.0\.0\r\nredis_mode:standalone\r\n/);
    expect(all).toContain('\r\nuptime_in_days:1\r\n');
    expect(all).toContain('\r\n\r\n# Stats\r\ntotal_connections_received:3\r\n');
    expect(all).toContain('keyspace_hits:4\r\nkeyspace_misses:2');
    expect(all).toMatch(/# Keyspace\r\nshardcache_namespace:app\r\nshardcache_shards:2\r\nshardcache_shards_without_primary:0\r\n/);
    expect(all.endsWith('\r\n')).toBe(true);
    expect(infoText(facts, ['STATS'])).toMatch(/^# Stats\r\n[^#]*$/);
    expect(infoText(facts, ['nosuch'])).toBe('');
  });

  test('clients, memory, stats, replication and cpu figures, in Redis\'s section order', () => {
    const all = infoText({ ...facts, memory: { usedBytes: 3 * 1024 * 1024 + 512 * 1024, maxBytes: 1024 ** 3, nodes: 4, failed: 1 } }, []);
    const titles = [...all.matchAll(/^# (\w+)\r$/gm)].map((m) => m[1]);
    expect(titles).toEqual(['Server', 'Clients', 'Memory', 'Stats', 'Replication', 'Cpu', 'Keyspace']);
    expect(all).toContain('# Clients\r\nconnected_clients:1\r\nmaxclients:100\r\nblocked_clients:0\r\n');
    expect(all).toContain('used_memory:3670016\r\nused_memory_human:3.50M\r\nmaxmemory:1073741824\r\nmaxmemory_human:1.00G\r\n');
    expect(all).toContain('shardcache_memory_nodes:4\r\nshardcache_memory_nodes_failed:1\r\n');
    expect(all).toContain('instantaneous_ops_per_sec:42\r\nrejected_connections:5\r\n');
    expect(all).toContain('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n');
    expect(all).toContain('used_cpu_sys:0.000250\r\nused_cpu_user:1.500000\r\n');
    expect(all).not.toMatch(/executable|config_file/);
    expect(infoSections(['CPU', 'memory'])).toEqual(['memory', 'cpu']);
    expect(infoSections(['default'])).toEqual(INFO_SECTIONS);
    // Redis's db0 line, first in the section, only when the namespace has keys; an unknown expires count prints 0.
    expect(infoText({ ...facts, keyspace: { keys: 3, expires: 1 } }, ['keyspace'])).toBe(
      '# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\nshardcache_namespace:app\r\nshardcache_shards:2\r\nshardcache_shards_without_primary:0\r\n'
        + 'shardcache_live_nodes:0\r\nshardcache_topology_revision:7\r\n',
    );
    expect(infoText({ ...facts, keyspace: { keys: 2, expires: undefined } }, ['keyspace'])).toContain('\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n');
    expect(infoText({ ...facts, keyspace: { keys: 0, expires: 0 } }, ['keyspace'])).not.toContain('db0');
    expect([bytesToHuman(0), bytesToHuman(1023), bytesToHuman(1024), bytesToHuman(1536 * 1024 ** 3)]).toEqual(['0B', '1023B', '1.00K', '1.50T']);
  });
});

describe('reply queue and fan-out', () => {
  test('replies leave in request order even when they complete out of order', () => {
    const q = new ReplyQueue();
    const reserveAlone = (): ReturnType<ReplyQueue['reserve']> => {
      q.nextBatch(); // each its own read: no reply waits for another's batch
      return q.reserve();
    };
    const [a, b, c, d] = [reserveAlone(), reserveAlone(), reserveAlone(), reserveAlone()];
    c.fill(B('c'));
    expect(q.takeReady()).toEqual([]);
    a.fill(B('a'));
    expect(q.takeReady().map(text)).toEqual(['a']);
    b.fill(B('bb'));
    d.fill(B('dddd'));
    b.fill(B('ignored'));
    expect(q.filledBytes).toBe(7);
    expect(q.takeReady(2).map(text)).toEqual(['bb']); // stops at the byte budget
    expect(q.takeReady(1).map(text)).toEqual(['c']);
    expect(q.takeReady(1).map(text)).toEqual(['dddd']); // the first reply goes out whatever its size
    expect([q.size, q.filledBytes]).toEqual([0, 0]);
  });

  test('replies of one read batch leave together, unless their filled part reaches BATCH_HOLD_BYTES', () => {
    const q = new ReplyQueue();
    q.nextBatch();
    const [a1, a2] = [q.reserve(), q.reserve()];
    q.nextBatch();
    const [b1, b2, b3] = [q.reserve(), q.reserve(), q.reserve()];
    a1.fill(B('a1'));
    expect(q.readyAtHead).toBe(false); // a2, of the same read, is not answered yet
    expect(q.takeReady()).toEqual([]);
    b1.fill(B('b1'));
    a2.fill(B('a2'));
    expect(q.readyAtHead).toBe(true);
    expect(q.takeReady().map(text)).toEqual(['a1', 'a2']); // batch a whole; b1 waits for b2 and b3
    b3.fill(B('b3'));
    expect(q.takeReady()).toEqual([]);
    b2.fill(B('b2'));
    expect(q.takeReady().map(text)).toEqual(['b1', 'b2', 'b3']);

    q.nextBatch();
    const [big, small, pending] = [q.reserve(), q.reserve(), q.reserve()];
    big.fill(Buffer.alloc(BATCH_HOLD_BYTES, 0x78));
    small.fill(B('s'));
    expect(q.takeReady().map((r) => r.length)).toEqual([BATCH_HOLD_BYTES, 1]); // enough bytes: no more waiting
    pending.fill(B('p'));
    expect(q.takeReady().map(text)).toEqual(['p']);
    expect([q.size, q.filledBytes]).toEqual([0, 0]);
  });

  test('settleAll keeps order, bounds concurrency and reports failures per item', async () => {
    let running = 0;
    let peak = 0;
    const results = await settleAll([1, 2, 3, 4, 5, 6], async (n) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 7 - n));
      running--;
      if (n === 4) throw new Error('four');
      return n * 10;
    }, 2);
    expect(peak).toBe(2);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([10, 20, 30, 'four', 50, 60]);
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('bulk encoders write their headers digit by digit', () => {
  test('bulk and bulkValues match the RESP text for every length width', () => {
    for (const len of [0, 1, 9, 10, 99, 100, 999, 1000, 65_535, 100_000, 1_048_576]) {
      const value = Buffer.alloc(len, 0x61);
      expect(bulk(value).equals(Buffer.concat([Buffer.from(`$${len}\r\n`), value, Buffer.from('\r\n')]))).toBe(true);
    }
    const values = [Buffer.from('a'), null, Buffer.alloc(12, 0x62), Buffer.alloc(0)];
    const expected = Buffer.concat([Buffer.from('*4\r\n$1\r\na\r\n$-1\r\n$12\r\n'), Buffer.alloc(12, 0x62), Buffer.from('\r\n$0\r\n\r\n')]);
    expect(bulkValues({ length: values.length, valueAt: (i) => values[i] }).equals(expected)).toBe(true);
    expect(bulkArray(Array.from({ length: 10 }, () => null)).toString()).toBe(`*10\r\n${'$-1\r\n'.repeat(10)}`);
  });
});

describe('RESP3 replies', () => {
  /** A reply tree: a value (null: the null bulk), an error or integer line, an array (null: the null array), or a map. */
  type Tree = { bulk: string | null } | { line: Buffer } | { array: Tree[] | null } | { map: Array<[Tree, Tree]> };

  /** A small deterministic generator, so a failure replays. */
  function rng(seed: number): () => number {
    let x = seed >>> 0;
    return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  }

  function gen(random: () => number, depth: number): Tree {
    const r = random();
    if (depth > 3 || r < 0.35) {
      // Values that look like nulls must stay values: the rewrite goes by structure, not bytes.
      const texts = ['', 'v', '$-1\r\n', '*-1\r\n', '-1', 'a\r\nb'];
      return { bulk: random() < 0.3 ? null : texts[Math.floor(random() * texts.length)] };
    }
    if (r < 0.5) return { line: random() < 0.5 ? integer(-1) : error('ERR -1') };
    if (r < 0.65) return { array: null };
    const n = Math.floor(random() * 4);
    if (r < 0.85) return { array: Array.from({ length: n }, () => gen(random, depth + 1)) };
    return { map: Array.from({ length: n }, () => [gen(random, depth + 1), gen(random, depth + 1)] as [Tree, Tree]) };
  }

  /** The tree's bytes with nulls in the form of protocol `nulls` and maps in that of `maps`. */
  function encode(t: Tree, nulls: 2 | 3, maps: 2 | 3): Buffer {
    const nul = (resp2: string): Buffer => Buffer.from(nulls === 3 ? '_\r\n' : resp2);
    if ('bulk' in t) return t.bulk === null ? nul('$-1\r\n') : bulk(t.bulk);
    if ('line' in t) return t.line;
    if ('array' in t) return t.array === null ? nul('*-1\r\n') : Buffer.concat([Buffer.from(`*${t.array.length}\r\n`), ...t.array.map((c) => encode(c, nulls, maps))]);
    return map(t.map.map(([k, v]) => [encode(k, nulls, maps), encode(v, nulls, maps)] as const), maps);
  }

  test('resp3Nulls turns every RESP2 null, at any depth, into `_` and leaves every other byte as it is', () => {
    const random = rng(7);
    for (let i = 0; i < 3000; i++) {
      const tree = gen(random, 0);
      // What a RESP3 connection's handlers produce (RESP2 nulls; maps already as `%n` from map()), and what must reach the client.
      for (const maps of [2, 3] as const) expect(resp3Nulls(encode(tree, 2, maps)).toString('latin1')).toBe(encode(tree, 3, maps).toString('latin1'));
    }
  });

  test('a reply without a null is returned as is; map() writes %n in RESP3 and a flat array in RESP2', () => {
    const reply = bulkArray(['a', 'b']);
    expect(resp3Nulls(reply)).toBe(reply);
    expect(resp3Nulls(Replies.NULL_BULK).toString()).toBe('_\r\n');
    expect(resp3Nulls(Replies.NULL_ARRAY).toString()).toBe('_\r\n');
    expect(resp3Nulls(bulk('$-1\r\n'))).toEqual(bulk('$-1\r\n'));
    const pairs = [[bulk('k'), bulk(null)]] as const;
    expect(map(pairs, 3).toString()).toBe('%1\r\n$1\r\nk\r\n$-1\r\n');
    expect(resp3Nulls(map(pairs, 3)).toString()).toBe('%1\r\n$1\r\nk\r\n_\r\n');
    expect(map(pairs, 2).toString()).toBe('*2\r\n$1\r\nk\r\n$-1\r\n');
    // Bytes that are not a reply this front wrote end the walk; they never loop or throw.
    for (const bad of ['*x\r\n$-1\r\n', '$99\r\n-1\r\n', '*3\r\n$-1\r\n', '$-1', '*-\r\n-1\r\n', '=5\r\ntxt:a\r\n$-1\r\n']) {
      expect(() => resp3Nulls(Buffer.from(bad))).not.toThrow();
    }
    expect(resp3Nulls(Buffer.from('*2\r\n=5\r\ntxt:a\r\n$-1\r\n')).toString()).toBe('*2\r\n=5\r\ntxt:a\r\n_\r\n');
  });
});
