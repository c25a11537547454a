import { InvalidArgumentError } from 'commander';
import { unreachable } from '../../control-plane/cli/run';
import { buildHotKeyRule } from '../../control-plane/commands/hotkeys';
import { initialRecords } from '../../control-plane/commands/init';
import { mergePolicy, validateNamespaceName } from '../../control-plane/commands/namespaces';
import { planFailover } from '../../control-plane/commands/failover';
import { ExitCode, InputError, NotInitialisedError, TimedOutError, exitCodeOf } from '../../control-plane/errors';
import { numberIn, parseClusterName, parseEndpoints, parseUrl } from '../../control-plane/flags';
import type { StatusDocument } from '../../control-plane/status/document';
import { EtcdUnavailableError } from '../../shared/topology/etcd';
import { inputError } from '../helpers/shardctl';

describe('init records', () => {
  test('config and even slot map, validated with the flag named', () => {
    const { config, slotMap } = initialRecords({ shards: 3, replicas: 1, leaseTtlSeconds: 3, force: false, now: () => 42 });
    expect(config).toEqual({ slots: 16384, shards: 3, replicas: 1, leaseTtlSeconds: 3, createdAt: 42 });
    expect(slotMap).toEqual({ epoch: 1, ranges: [[0, 5460, 0], [5461, 10921, 1], [10922, 16383, 2]] });
    expect(inputError(() => initialRecords({ shards: 0, replicas: 1, leaseTtlSeconds: 3, force: false })).subject).toBe('--shards');
    expect(inputError(() => initialRecords({ shards: 1, replicas: 1, leaseTtlSeconds: 99, force: false })).subject).toBe('--lease-ttl');
  });
});

describe('namespace policy merge', () => {
  test('merges over the stored record and keeps fields not given', () => {
    const stored = JSON.stringify({ defaultTtlSeconds: 60, eviction: 'lru' });
    expect(mergePolicy(stored, { eviction: 'lfu', quotaBytes: 1024, origin: undefined })).toEqual({ defaultTtlSeconds: 60, eviction: 'lfu', quotaBytes: 1024 });
    expect(mergePolicy(undefined, {})).toEqual({});
    expect(mergePolicy('not json', { writeAck: 'replica' })).toEqual({ writeAck: 'replica' });
  });

  test('an invalid value is reported with the flag that sets it', () => {
    const err = inputError(() => mergePolicy(undefined, { maxItemBytes: 128 * 1024 * 1024 }));
    expect(err.subject).toBe('--max-item-bytes');
    expect(err.message).toMatch(/^--max-item-bytes: /);
    expect(inputError(() => mergePolicy(undefined, { origin: 'nope' })).subject).toBe('--origin');
    expect(inputError(() => validateNamespaceName('bad/name')).message).toMatch(/<namespace>: "bad\/name": namespace must be/);
  });
});

describe('hot-key rules', () => {
  test('builds operator rules with an absolute expiry', () => {
    expect(buildHotKeyRule({ mode: 'near-cache', ttlMs: 250, expiresInSeconds: 10 }, 1000)).toEqual({ mode: 'near-cache', ttlMs: 250, expiresAt: 11_000, source: 'operator' });
    expect(buildHotKeyRule({ mode: 'copies', copies: 3 }, 0)).toEqual({ mode: 'copies', copies: 3, source: 'operator' });
  });

  test('refuses flags that do not fit the mode', () => {
    expect(inputError(() => buildHotKeyRule({ mode: 'copies' }, 0)).message).toBe('--copies: --mode copies needs --copies K (2-16)');
    expect(inputError(() => buildHotKeyRule({ mode: 'near-cache', copies: 2 }, 0)).subject).toBe('--copies');
    expect(inputError(() => buildHotKeyRule({ mode: 'replica-spread', ttlMs: 5 }, 0)).subject).toBe('--ttl-ms');
  });
});

describe('failover plan', () => {
  const doc = (shards: StatusDocument['shards']): StatusDocument => ({ cluster: 'c', revision: 1, initialised: true, config: null, shards, nodes: [] });
  const shard = (shardId: number, primary: boolean, replicas: number): StatusDocument['shards'][number] => ({
    shardId, slots: [], primary: primary ? { nodeId: `p${shardId}`, addr: 'h:1', epoch: 7 } : null,
    replicas: Array.from({ length: replicas }, (_, i) => ({ nodeId: `r${i}`, addr: 'h:2' })), healthy: true, problems: [], resignEpoch: null,
  });

  test('needs the shard, its primary and a live replica', () => {
    expect(planFailover(doc([shard(0, true, 2)]), 0)).toEqual({ shardId: 0, primary: { nodeId: 'p0', addr: 'h:1', epoch: 7 }, candidates: ['r0', 'r1'] });
    expect(inputError(() => planFailover(doc([shard(0, true, 1), shard(1, true, 1)]), 5)).message).toBe('<shard>: no shard 5 in cluster "c" (shards: 0-1)');
    expect(inputError(() => planFailover(doc([shard(0, false, 1)]), 0)).message).toMatch(/shard 0 has no primary/);
    expect(inputError(() => planFailover(doc([shard(0, true, 0)]), 0)).message).toMatch(/shard 0 has no live replica to take over from p0; refusing/);
  });
});

describe('flags and exit statuses', () => {
  test('parsers accept good values and refuse bad ones', () => {
    expect(parseEndpoints('127.0.0.1:2379, etcd-2:2379')).toBe('127.0.0.1:2379,etcd-2:2379');
    expect(() => parseEndpoints('127.0.0.1')).toThrow(InvalidArgumentError);
    expect(() => parseEndpoints('a:1,')).toThrow(InvalidArgumentError);
    expect(parseClusterName('prod-1')).toBe('prod-1');
    expect(() => parseClusterName('a/b')).toThrow(InvalidArgumentError);
    expect(numberIn(0, 100)('12.5')).toBe(12.5);
    expect(() => numberIn(0, 100)('101')).toThrow(InvalidArgumentError);
    expect(parseUrl('https://origin:8080/x')).toBe('https://origin:8080/x');
    expect(() => parseUrl('ftp://x')).toThrow(InvalidArgumentError);
  });

  test('one table maps errors to exit statuses', () => {
    expect(exitCodeOf(new InputError('--x', 'bad'))).toBe(ExitCode.BAD_INPUT);
    expect(exitCodeOf(new EtcdUnavailableError('h:1', 'refused'))).toBe(ExitCode.ETCD_UNAVAILABLE);
    expect(exitCodeOf(new NotInitialisedError('c'))).toBe(ExitCode.NOT_INITIALISED);
    expect(exitCodeOf(new TimedOutError('slow'))).toBe(ExitCode.TIMED_OUT);
    expect(unreachable('h:1', new Error('14 UNAVAILABLE: ... connect ECONNREFUSED h:1'))).toMatch(/^cannot reach etcd at h:1 \(connection refused\); is etcd running\?/);
    expect(unreachable('h:1', new Error('Deadline exceeded'))).toMatch(/\(no answer within 4s\)/);
  });
});
