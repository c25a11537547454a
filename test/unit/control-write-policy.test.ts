import { Command } from 'commander';
import { buildProgram } from '../../control-plane/cli/shardctl';
import { completionTree } from '../../control-plane/cli/completion';
import { formatNamespaces } from '../../control-plane/cli/print';
import { formatAge, formatFlush, formatFlushStatus, keyCell } from '../../control-plane/cli/write-policy-print';
import { mergePolicy } from '../../control-plane/commands/namespaces';
import {
  figuresFor, flushProblems, flushResultOf, flushStatusReport, statusAnswerOf,
  type FlushReport, type NodeAnswer,
} from '../../control-plane/commands/write-policy';
import { Status } from '../../shared/protocol';
import type { WritePolicyFigures } from '../../shared/ops';
import type { StatusDocument } from '../../control-plane/status/document';
import { inputError, shardctlInProcess } from '../helpers/shardctl';

const figures = (over: Partial<WritePolicyFigures> = {}): WritePolicyFigures => ({
  namespace: 'orders', policy: 'write-behind', primary: true, depth: 0, bytes: 0, oldestMs: 0, inFlight: 0,
  flushed: 0, failed: 0, coalesced: 0, refused: 0, deadLetters: 0, recent: [], lastError: null, ...over,
});

describe('ns set: write-policy fields', () => {
  test('merge keeps them beside the other fields', () => {
    const stored = JSON.stringify({ defaultTtlSeconds: 60 });
    expect(mergePolicy(stored, {
      writePolicy: 'write-behind', store: 'http://db:1/items/{key}', storeBulkUrl: 'http://db:1/bulk', storeTimeoutMs: 500,
      writeBehindDelayMs: 0, writeBehindBatch: 100, writeBehindMaxQueue: 1000, writeBehindMaxAttempts: 0,
    })).toEqual({
      defaultTtlSeconds: 60, writePolicy: 'write-behind', store: 'http://db:1/items/{key}', storeBulkUrl: 'http://db:1/bulk', storeTimeoutMs: 500,
      writeBehindDelayMs: 0, writeBehindBatch: 100, writeBehindMaxQueue: 1000, writeBehindMaxAttempts: 0,
    });
  });

  test('a write policy without a store or an origin is refused, naming --write-policy; the origin serves as the store', () => {
    for (const writePolicy of ['write-through', 'write-behind'] as const) {
      const err = inputError(() => mergePolicy(undefined, { writePolicy }));
      expect(err.subject).toBe('--write-policy');
      expect(err.message).toBe(`--write-policy: write policy ${writePolicy} needs a store: set --store (or --origin)`);
    }
    expect(mergePolicy(JSON.stringify({ origin: 'http://o:1/items/{key}' }), { writePolicy: 'write-through' })).toEqual({ origin: 'http://o:1/items/{key}', writePolicy: 'write-through' });
    expect(mergePolicy(undefined, { writePolicy: 'cache-aside' })).toEqual({ writePolicy: 'cache-aside' });
    // A later `ns set` of another field checks the merged whole: the stored write policy still needs its store.
    expect(inputError(() => mergePolicy(JSON.stringify({ writePolicy: 'write-behind' }), { defaultTtlSeconds: 5 })).subject).toBe('--write-policy');
  });

  test('store URLs the nodes could not use are refused, naming the flag that set them', () => {
    expect(inputError(() => mergePolicy(undefined, { writePolicy: 'write-behind', store: 'http://{key}.db/' })).subject).toBe('--store');
    // An origin stored before it served as a store is checked when it becomes one.
    const err = inputError(() => mergePolicy(JSON.stringify({ origin: 'http://{key}.o/' }), { writePolicy: 'write-behind' }));
    expect(err.subject).toBe('--origin');
    expect(err.message).toContain('the origin template (used as the store) has {key} in its scheme, user, host or port');
    expect(inputError(() => mergePolicy(undefined, { writePolicy: 'write-behind', store: 'http://db/{key}', storeBulkUrl: 'http://db/bulk/{key}' })).subject).toBe('--store-bulk-url');
    expect(inputError(() => mergePolicy(undefined, { storeTimeoutMs: 5 })).subject).toBe('--store-timeout-ms');
    expect(inputError(() => mergePolicy(undefined, { writeBehindBatch: 0 })).subject).toBe('--write-behind-batch');
  });

  test('shardctl refuses bad flag values before touching etcd', async () => {
    const cases: Array<[string[], string]> = [
      [['--write-policy', 'write-around'], "option '--write-policy <policy>' argument 'write-around' is invalid. expected one of cache-aside, write-through, write-behind"],
      [['--store', 'ftp://db/{key}'], "option '--store <url>' argument 'ftp://db/{key}' is invalid. expected an http:// or https:// URL"],
      [['--store', 'http://{key}.db/'], "option '--store <url>' argument 'http://{key}.db/' is invalid. the store template has {key} in its scheme, user, host or port"],
      [['--store-bulk-url', 'http://db/bulk/{key}'], 'the store bulk URL names no key: it has no {key}'],
      [['--store-timeout-ms', '5'], "option '--store-timeout-ms <ms>' argument '5' is invalid. expected a whole number from 10 to 60000"],
      [['--write-behind-delay-ms', '-1'], "option '--write-behind-delay-ms <ms>' argument '-1' is invalid"],
      [['--write-behind-batch', '0'], "option '--write-behind-batch <n>' argument '0' is invalid"],
      [['--write-behind-max-queue', '20000000'], "option '--write-behind-max-queue <n>' argument '20000000' is invalid"],
      [['--write-behind-max-attempts', '1.5'], "option '--write-behind-max-attempts <n>' argument '1.5' is invalid"],
    ];
    for (const [flags, message] of cases) {
      const res = await shardctlInProcess(['ns', 'set', 'app', ...flags, '--etcd', '127.0.0.1:1']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(message);
    }
  });

  test('ns list shows the write policy and where it writes', () => {
    const text = formatNamespaces([
      { namespace: 'a', policy: { writePolicy: 'write-behind', store: 'http://db/items/{key}' } },
      { namespace: 'b', policy: { writePolicy: 'write-through', origin: 'http://o/{key}' } },
      { namespace: 'c', policy: {} },
    ]);
    expect(text.split('\n')[0]).toMatch(/ +HOT_AUTO +WRITE_POLICY$/);
    expect(text).toMatch(/^a .* write-behind http:\/\/db\/items\/\{key\}$/m);
    expect(text).toMatch(/^b .* write-through \(origin\)$/m);
    expect(text).toMatch(/^c +(- +){9}-$/m);
  });
});

describe('ns flush-status: aggregation and printing', () => {
  const doc: Pick<StatusDocument, 'shards' | 'nodes'> = {
    shards: [
      { shardId: 0, slots: [[0, 8191]], primary: { nodeId: 'a0', addr: 'h:1', epoch: 5 }, replicas: [{ nodeId: 'b0', addr: 'h:2' }], healthy: true, problems: [], resignEpoch: null },
      { shardId: 1, slots: [[8192, 16383]], primary: { nodeId: 'a1', addr: 'h:3', epoch: 6 }, replicas: [], healthy: true, problems: [], resignEpoch: null },
      { shardId: 2, slots: [], primary: null, replicas: [], healthy: false, problems: ['no primary'], resignEpoch: null },
    ],
    nodes: [
      { nodeId: 'a0', addr: 'h:1', adminAddr: null, shardId: 0, zone: '', role: 'primary', live: true, replication: null },
      { nodeId: 'b0', addr: 'h:2', adminAddr: null, shardId: 0, zone: '', role: 'replica', live: true, replication: null },
      { nodeId: 'a1', addr: 'h:3', adminAddr: null, shardId: 1, zone: '', role: 'primary', live: true, replication: null },
      { nodeId: 'b1', addr: 'h:4', adminAddr: null, shardId: 1, zone: '', role: 'replica', live: false, replication: null },
    ],
  };
  const answers = new Map<string, NodeAnswer>([
    ['a0', { figures: figures({
      depth: 12, bytes: 3400, oldestMs: 1250, inFlight: 2, flushed: 1000, failed: 3, coalesced: 400, refused: 1, deadLetters: 2, lastError: 'HTTP 503',
      recent: [
        { key: 'order:1', version: 7, deleted: false, reason: 'HTTP 400', at: Date.UTC(2025, 0, 1, 12) },
        { key: 'a key', version: 9, deleted: true, reason: 'HTTP 403', at: Date.UTC(2025, 0, 1, 13) },
      ],
    }) }],
    ['b0', { figures: figures({ primary: false, depth: 12, bytes: 3400 }) }],
    ['a1', { figures: figures({ depth: 3, bytes: 30, oldestMs: 4000, flushed: 10, deadLetters: 1, recent: [{ key: 'x', version: 1, deleted: false, reason: 'HTTP 422', at: Date.UTC(2025, 0, 1, 14) }] }) }],
    ['b1', { error: 'no answer from h:4: ECONNREFUSED' }],
  ]);
  const report = flushStatusReport({ cluster: 'c', namespace: 'orders', writePolicy: 'write-behind', doc, answers }, new Date(Date.UTC(2025, 0, 2)));

  test('per shard the primary\'s figures, the replicas\' depth, totals and the dead letters newest first', () => {
    expect(report.shards).toEqual([
      { shardId: 0, primary: 'a0', figures: (answers.get('a0') as { figures: WritePolicyFigures }).figures, error: null, replicas: [{ nodeId: 'b0', depth: 12, error: null }] },
      { shardId: 1, primary: 'a1', figures: (answers.get('a1') as { figures: WritePolicyFigures }).figures, error: null, replicas: [{ nodeId: 'b1', depth: null, error: 'no answer from h:4: ECONNREFUSED' }] },
      { shardId: 2, primary: null, figures: null, error: 'no primary (election pending)', replicas: [] },
    ]);
    expect(report.totals).toEqual({ depth: 15, bytes: 3430, oldestMs: 4000, inFlight: 2, flushed: 1010, failed: 3, coalesced: 400, refused: 1, deadLetters: 3 });
    expect(report.deadLetters.map((d) => [d.shardId, d.key])).toEqual([[1, 'x'], [0, 'a key'], [0, 'order:1']]);
    // --output json prints the report as it is.
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ cluster: 'c', namespace: 'orders', writePolicy: 'write-behind', at: '2025-01-02T00:00:00.000Z' });
  });

  test('the table: one row per shard, the replicas\' depth, an unanswered node or missing primary said in words', () => {
    const text = formatFlushStatus(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('namespace orders (cluster c): write-behind');
    expect(lines[1]).toMatch(/^SHARD +PRIMARY +DEPTH +BYTES +OLDEST +IN_FLIGHT +FLUSHED +FAILED +COALESCED +REFUSED +DEAD +REPLICA_DEPTH +LAST_ERROR$/);
    expect(lines[2].split(/ {2,}/)).toEqual(['0', 'a0', '12', '3400', '1.3s', '2', '1000', '3', '400', '1', '2', 'b0=12', 'HTTP 503']);
    expect(lines[3].split(/ {2,}/)).toEqual(['1', 'a1', '3', '30', '4.0s', '0', '10', '0', '0', '0', '1', 'b1=?', '-']);
    expect(lines[4].split(/ {2,}/)).toEqual(['2', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', 'not answered: no primary (election pending)']);
    expect(lines[5]).toBe('total: depth 15, bytes 3430, oldest 4.0s, in flight 2, flushed 1010, failed 3, coalesced 400, refused 1, dead letters 3');
    expect(text).toContain('dead letters, newest first:');
    expect(text).toMatch(/^SHARD +KEY +VERSION +WRITE +AT +REASON$/m);
    expect(text).toMatch(/^0 +"a key" +9 +delete +2025-01-01T13:00:00\.000Z +HTTP 403$/m);
    expect(text).toMatch(/^1 +x +1 +put +2025-01-01T14:00:00\.000Z +HTTP 422$/m);
  });

  test('no dead letters, and dead letters the primaries counted but did not list', () => {
    const clean = flushStatusReport({ cluster: 'c', namespace: 'orders', writePolicy: 'cache-aside', doc: { shards: doc.shards.slice(1, 2), nodes: doc.nodes.slice(2, 3) }, answers: new Map([['a1', { figures: figures() }]]) });
    const text = formatFlushStatus(clean);
    expect(text.split('\n')[0]).toBe('namespace orders (cluster c): cache-aside (the nodes write nothing to a store)');
    expect(text).toMatch(/^1 +a1 +0 +0 +- +0 +0 +0 +0 +0 +0 +- +-$/m);
    expect(text.endsWith('no dead letters')).toBe(true);
    const counted = flushStatusReport({ cluster: 'c', namespace: 'orders', writePolicy: null, doc: { shards: doc.shards.slice(1, 2), nodes: doc.nodes.slice(2, 3) }, answers: new Map([['a1', { figures: figures({ deadLetters: 4 }) }]]) });
    expect(formatFlushStatus(counted)).toMatch(/no policy in etcd[\s\S]*4 dead letters, none listed by the primaries$/);
  });

  test('a primary without figures for the namespace is not an error', () => {
    const r = flushStatusReport({ cluster: 'c', namespace: 'orders', writePolicy: 'write-behind', doc: { shards: doc.shards.slice(1, 2), nodes: doc.nodes.slice(2, 3) }, answers: new Map([['a1', { figures: null }]]) });
    expect(r.shards[0]).toMatchObject({ figures: null, error: null });
    expect(formatFlushStatus(r)).toContain('no write-policy figures for this namespace on the primary');
  });

  test('replies off the wire: the namespace\'s entry read field by field; refusals in words', () => {
    expect(figuresFor([{ namespace: 'other', depth: 1 }, { namespace: 'orders', depth: 4, bytes: 'x', recent: [{ key: 'k', version: 2, reason: 'r', at: 5 }, 'junk'] }], 'orders')).toEqual(
      figures({ primary: false, depth: 4, recent: [{ key: 'k', version: 2, deleted: false, reason: 'r', at: 5 }] }),
    );
    expect(figuresFor([], 'orders')).toBeNull();
    expect(figuresFor('nonsense', 'orders')).toBeNull();
    expect(statusAnswerOf([1, Status.OK, [figures()]], 'orders')).toEqual({ figures: figures() });
    expect(statusAnswerOf([1, Status.UNKNOWN_OP], 'orders')).toEqual({ error: 'the node does not know WRITE_POLICY_STATUS (it predates write policies; upgrade it)' });
    expect(statusAnswerOf([1, Status.BAD_REQUEST, 'bad namespace'], 'orders')).toEqual({ error: 'refused WRITE_POLICY_STATUS (BAD_REQUEST: bad namespace)' });
  });

  test('small formatters', () => {
    expect([formatAge(0), formatAge(49), formatAge(1250), formatAge(250_000)]).toEqual(['-', '0.0s', '1.3s', '250s']);
    expect([keyCell('order:1'), keyCell('two words'), keyCell('line\nbreak'), keyCell('')]).toEqual(['order:1', '"two words"', '"line\\nbreak"', '""']);
  });
});

describe('ns flush: results', () => {
  const report = (shards: FlushReport['shards']): FlushReport => ({ cluster: 'c', namespace: 'orders', writePolicy: 'write-behind', timeoutMs: 30_000, elapsedMs: 1200, drained: flushProblems({ shards, timeoutMs: 30_000 }).length === 0, shards });

  test('drained when every shard answered remaining 0; dead letters point at flush-status', () => {
    const r = report([flushResultOf(0, 'a0', [1, Status.OK, 0, 0]), flushResultOf(1, 'a1', [2, Status.OK, 0, 2])]);
    expect(r.drained).toBe(true);
    const text = formatFlush(r).split('\n');
    expect(text[0]).toBe('namespace orders (cluster c): write-behind');
    expect(text[1]).toMatch(/^SHARD +PRIMARY +REMAINING +DEAD_LETTERS +ERROR$/);
    expect(text[2].split(/ {2,}/)).toEqual(['0', 'a0', '0', '0', '-']);
    expect(text[3].split(/ {2,}/)).toEqual(['1', 'a1', '0', '2', '-']);
    expect(text[4]).toBe('flushed: every shard drained in 1.2s');
    expect(text[5]).toBe('2 dead letters (writes the store refused for good): shardctl ns flush-status orders');
  });

  test('not drained: keys left, a refusal, no primary, no answer; one sentence each', () => {
    const shards: FlushReport['shards'] = [
      flushResultOf(0, 'a0', [1, Status.OK, 5, 0]),
      flushResultOf(1, 'a1', [2, Status.UNKNOWN_OP]),
      { shardId: 2, primary: null, remaining: null, deadLetters: null, error: 'no primary (election pending)' },
      flushResultOf(3, 'a3', [3, Status.OK, 1, 0]),
    ];
    const r = report(shards);
    expect(r.drained).toBe(false);
    expect(flushProblems(r)).toEqual([
      'shard 0: 5 keys still unflushed after 30000 ms',
      'shard 1: the node does not know WRITE_POLICY_FLUSH (it predates write policies; upgrade it)',
      'shard 2: no primary (election pending)',
      'shard 3: 1 key still unflushed after 30000 ms',
    ]);
    const text = formatFlush(r);
    expect(text).toMatch(/^0 +a0 +5 +0 +-$/m);
    expect(text).toMatch(/^1 +a1 +- +- +the node does not know/m);
    expect(text.endsWith('not drained within 30000 ms')).toBe(true);
  });
});

describe('shardctl wiring', () => {
  const program = (): Command => buildProgram({ io: { out: () => undefined, err: () => undefined }, status: 0 });

  test('flush-status and flush are ns commands, in completion, --timeout defaults to 30 s', () => {
    const tree = completionTree(program());
    const ns = tree.entries.find((e) => e.path === 'ns')!;
    expect(ns.words).toEqual(expect.arrayContaining(['set', 'get', 'list', 'rm', 'flush-status', 'flush']));
    expect(tree.entries.find((e) => e.path === 'ns flush')!.words).toEqual(expect.arrayContaining(['--timeout', '--output']));
    expect(tree.entries.find((e) => e.path === 'ns set')!.words).toEqual(expect.arrayContaining([
      '--write-policy', '--store', '--store-bulk-url', '--store-timeout-ms', '--write-behind-delay-ms', '--write-behind-batch', '--write-behind-max-queue', '--write-behind-max-attempts',
    ]));
    const flush = program().commands.find((c) => c.name() === 'ns')!.commands.find((c) => c.name() === 'flush')!;
    expect(flush.options.find((o) => o.long === '--timeout')!.defaultValue).toBe(30_000);
  });

  test('bad arguments are refused before etcd', async () => {
    const bad = await shardctlInProcess(['ns', 'flush', 'orders', '--timeout', '5', '--etcd', '127.0.0.1:1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("option '--timeout <ms>' argument '5' is invalid. expected a whole number from 100 to 3600000");
    const missing = await shardctlInProcess(['ns', 'flush-status', '--etcd', '127.0.0.1:1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("missing required argument 'namespace'");
  });
});
