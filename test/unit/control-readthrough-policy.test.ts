import { mergePolicy } from '../../control-plane/commands/namespaces';
import { inputError, shardctlInProcess } from '../helpers/shardctl';

describe('read-through and QPS policy fields', () => {
  test('merge keeps them beside the other fields', () => {
    const stored = JSON.stringify({ origin: 'http://o:1/items/{key}', defaultTtlSeconds: 60 });
    expect(mergePolicy(stored, {
      staleWhileRevalidateSeconds: 30, negativeTtlSeconds: 5, fillLeaseMs: 3000, fillWaitMs: 2000, originTimeoutMs: 800, earlyRefreshBeta: 1, qpsLimit: 1000,
    })).toEqual({
      origin: 'http://o:1/items/{key}', defaultTtlSeconds: 60, staleWhileRevalidateSeconds: 30, negativeTtlSeconds: 5, fillLeaseMs: 3000, fillWaitMs: 2000,
      originTimeoutMs: 800, earlyRefreshBeta: 1, qpsLimit: 1000,
    });
  });

  test('an out-of-range value names its flag', () => {
    expect(inputError(() => mergePolicy(undefined, { staleWhileRevalidateSeconds: 70_000 })).subject).toBe('--stale-while-revalidate');
    expect(inputError(() => mergePolicy(undefined, { fillLeaseMs: 5 })).subject).toBe('--fill-lease-ms');
    expect(inputError(() => mergePolicy(undefined, { qpsLimit: 0 })).subject).toBe('--qps-limit');
    expect(inputError(() => mergePolicy(undefined, { earlyRefreshBeta: -1 })).subject).toBe('--early-refresh-beta');
  });

  test('shardctl refuses bad flag values before touching etcd', async () => {
    const cases: Array<[string[], string]> = [
      [['--qps-limit', '0'], "option '--qps-limit <n>' argument '0' is invalid. expected a whole number from 1 to 100000000"],
      [['--stale-while-revalidate', 'soon'], "option '--stale-while-revalidate <seconds>' argument 'soon' is invalid"],
      [['--negative-ttl', '-1'], "option '--negative-ttl <seconds>' argument '-1' is invalid"],
      [['--fill-lease-ms', '50'], "option '--fill-lease-ms <ms>' argument '50' is invalid. expected a whole number from 100 to 60000"],
      [['--fill-wait-ms', '1.5'], "option '--fill-wait-ms <ms>' argument '1.5' is invalid"],
      [['--origin-timeout-ms', '0'], "option '--origin-timeout-ms <ms>' argument '0' is invalid"],
      [['--early-refresh-beta', '11'], "option '--early-refresh-beta <beta>' argument '11' is invalid. expected a number from 0 to 10"],
    ];
    for (const [flags, message] of cases) {
      const res = await shardctlInProcess(['ns', 'set', 'app', ...flags, '--etcd', '127.0.0.1:1']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(message);
    }
  });
});
