/**
 * Scatter-gather with a bound: multi-key commands whose keys live on different nodes (DEL,
 * UNLINK, MSET, and MGET/EXISTS above one batch) run one request per key or batch, at most
 * `limit` at a time, and settle all of them before answering. Pure apart from the calls it makes.
 */
export const FANOUT_LIMIT = 128;

/** Runs `fn` over `items`, at most `limit` at once; results in item order. */
export async function settleAll<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, limit = FANOUT_LIMIT): Promise<Array<PromiseSettledResult<R>>> {
  const results = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i]) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The values of settled results, or the first rejection thrown. */
export function valuesOrThrow<R>(settled: ReadonlyArray<PromiseSettledResult<R>>): R[] {
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<R>).value);
}

/** `items` cut into consecutive batches of at most `size`. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
