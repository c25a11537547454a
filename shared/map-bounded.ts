/**
 * Runs `work` over `inputs` with at most `limit` in flight; resolves with the results in input
 * order once all are done, or rejects with the first failure (after the ones in flight settle, so
 * nothing is still running when the caller hears of the failure). Used by the store client and
 * the region ingest (a batch is answered only once all of it ran).
 */
export async function mapBounded<I, O>(inputs: readonly I[], limit: number, work: (input: I) => Promise<O>): Promise<O[]> {
  const results = new Array<O>(inputs.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < inputs.length) {
      const i = next++;
      try {
        results[i] = await work(inputs[i]);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, inputs.length) }, lane));
  if (failure !== undefined) throw failure.err;
  return results;
}
