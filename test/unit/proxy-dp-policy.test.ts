import { KEEP_TTL, Limits } from '../../shared/protocol';
import { ProxyError } from '../../proxy/errors';
import { checkItemSize, jitter, readPreferenceFor, resolveTtlMs, validateKeys, validateNamespace, validateTarget } from '../../proxy/policy';
import { fakeSnapshot } from '../helpers/fake-topology';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return (err as ProxyError).code;
  }
};

describe('proxy policy: TTL', () => {
  test('an explicit TTL is used as given, jitter or not', () => {
    const policy = { defaultTtlSeconds: 60, ttlJitterPct: 50 };
    expect(resolveTtlMs(policy, 1234, () => 0.99)).toBe(1234);
    expect(resolveTtlMs(policy, 0, () => 0.99)).toBe(0);
    expect(resolveTtlMs(policy, KEEP_TTL, () => 0.99)).toBe(KEEP_TTL);
  });

  test('undefined takes the namespace default; no default means no expiry', () => {
    expect(resolveTtlMs({ defaultTtlSeconds: 60 }, undefined, Math.random)).toBe(60_000);
    expect(resolveTtlMs({}, undefined, Math.random)).toBe(0);
    expect(resolveTtlMs(undefined, undefined, Math.random)).toBe(0);
    expect(resolveTtlMs({ defaultTtlSeconds: 0, ttlJitterPct: 10 }, undefined, Math.random)).toBe(0);
  });

  test('jitter stays within ttl × (1 ± pct/100) and spans it', () => {
    const policy = { defaultTtlSeconds: 100, ttlJitterPct: 20 };
    expect(resolveTtlMs(policy, undefined, () => 0)).toBe(80_000);
    expect(resolveTtlMs(policy, undefined, () => 0.5)).toBe(100_000);
    expect(resolveTtlMs(policy, undefined, () => 0.999999)).toBe(120_000);
    let seed = 1;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < 2000; i++) {
      const ttl = resolveTtlMs(policy, undefined, random);
      min = Math.min(min, ttl);
      max = Math.max(max, ttl);
    }
    expect(min).toBeGreaterThanOrEqual(80_000);
    expect(max).toBeLessThanOrEqual(120_000);
    expect(max - min).toBeGreaterThan(35_000); // the spread is used, not a constant
  });

  test('jitter never yields a TTL of 0 or less', () => {
    expect(jitter(1, 100, () => 0)).toBe(1);
    expect(jitter(1000, 100, () => 0)).toBe(1);
    expect(resolveTtlMs({ defaultTtlSeconds: 1, ttlJitterPct: 100 }, undefined, () => 0)).toBe(1);
  });

  test('a negative or fractional TTL is BAD_REQUEST', () => {
    expect(code(() => resolveTtlMs(undefined, -5, Math.random))).toBe('BAD_REQUEST');
    expect(code(() => resolveTtlMs(undefined, 1.5, Math.random))).toBe('BAD_REQUEST');
  });
});

describe('proxy policy: item size', () => {
  test('key bytes + value bytes over maxItemBytes is TOO_LARGE before anything is sent', () => {
    const policy = { maxItemBytes: 10 };
    expect(code(() => checkItemSize(policy, 'kkkk', Buffer.alloc(6)))).toBeUndefined();
    expect(code(() => checkItemSize(policy, 'kkkk', Buffer.alloc(7)))).toBe('TOO_LARGE');
    expect(code(() => checkItemSize(undefined, 'k', Buffer.alloc(5000)))).toBeUndefined();
  });

  test('the key counts in UTF-8 bytes', () => {
    expect(code(() => checkItemSize({ maxItemBytes: 10 }, 'ééé', Buffer.alloc(4)))).toBeUndefined(); // 6 + 4
    expect(code(() => checkItemSize({ maxItemBytes: 10 }, 'ééé', Buffer.alloc(5)))).toBe('TOO_LARGE'); // 6 + 5
    try {
      checkItemSize({ maxItemBytes: 10 }, 'ééé', Buffer.alloc(5));
    } catch (err) {
      expect((err as ProxyError).detail).toEqual({ size: 11, limit: 10 });
    }
  });
});

describe('proxy policy: validation', () => {
  test('namespaces follow NAMESPACE_PATTERN', () => {
    expect(code(() => validateNamespace('app.v1_x-y'))).toBeUndefined();
    for (const bad of ['', 'a b', 'a/b', 'x'.repeat(65), 42, undefined]) expect(code(() => validateNamespace(bad))).toBe('BAD_REQUEST');
  });

  test('keys are 1..1024 characters', () => {
    expect(code(() => validateTarget('ns', 'k'))).toBeUndefined();
    expect(code(() => validateTarget('ns', 'k'.repeat(Limits.MAX_KEY_LENGTH)))).toBeUndefined();
    expect(code(() => validateTarget('ns', ''))).toBe('BAD_REQUEST');
    expect(code(() => validateTarget('ns', 'k'.repeat(Limits.MAX_KEY_LENGTH + 1)))).toBe('BAD_REQUEST');
    expect(code(() => validateTarget('ns', 7))).toBe('BAD_REQUEST');
  });

  test('batches hold 1..MAX_BATCH_KEYS valid keys', () => {
    expect(code(() => validateKeys(['a', 'b']))).toBeUndefined();
    expect(code(() => validateKeys([]))).toBe('BAD_REQUEST');
    expect(code(() => validateKeys(['a', '']))).toBe('BAD_REQUEST');
    expect(code(() => validateKeys(new Array(Limits.MAX_BATCH_KEYS + 1).fill('k')))).toBe('BAD_REQUEST');
  });
});

describe('proxy policy: read preference', () => {
  const snapshot = fakeSnapshot({ shards: [{ primary: { nodeId: 'a', epoch: 5 } }], namespaces: { stale: { readPreference: 'replica' }, strict: { readPreference: 'primary' } } });

  test('the caller wins; else the namespace policy; else primary', () => {
    expect(readPreferenceFor(snapshot, 'stale', 'primary')).toBe('primary');
    expect(readPreferenceFor(snapshot, 'strict', 'replica')).toBe('replica');
    expect(readPreferenceFor(snapshot, 'stale')).toBe('replica');
    expect(readPreferenceFor(snapshot, 'strict')).toBe('primary');
    expect(readPreferenceFor(snapshot, 'other')).toBe('primary');
    expect(readPreferenceFor(undefined, 'stale')).toBe('primary');
  });
});
