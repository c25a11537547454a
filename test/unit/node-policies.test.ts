import { ackNamespaces, policyChanges, storePolicyOf } from '../../storage-node/cluster/namespace-policies';

describe('namespace policy sync (pure part)', () => {
  test('only the node-side fields count, and removals reset to defaults', () => {
    const prev = new Map([['a', { maxItemBytes: 10 }], ['b', { quotaBytes: 5, defaultTtlSeconds: 1 }], ['gone', { eviction: 'lfu' as const }]]);
    const next = new Map([['a', { maxItemBytes: 20 }], ['b', { quotaBytes: 5, defaultTtlSeconds: 99 }], ['new', { eviction: 'lru' as const }]]);
    expect(policyChanges(prev, next)).toEqual([
      ['a', { maxItemBytes: 20 }],
      ['new', { eviction: 'lru' }],
      ['gone', {}],
    ]);
    expect(storePolicyOf({ writeAck: 'replica', quotaBytes: 1 })).toEqual({ quotaBytes: 1 });
    expect(storePolicyOf(undefined)).toEqual({});
  });
});

describe('write acknowledgement policy', () => {
  test('only namespaces with writeAck replica wait for a replica', () => {
    const policies = new Map<string, { writeAck?: 'primary' | 'replica' }>([['a', { writeAck: 'replica' }], ['b', { writeAck: 'primary' }], ['c', {}]]);
    expect(ackNamespaces(policies)).toEqual(['a']);
    expect(ackNamespaces(new Map())).toEqual([]);
  });
});
