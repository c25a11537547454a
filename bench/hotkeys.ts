/**
 * Hot-key detection cost: ns per observation of the space-saving sketch on the proxy's GET path.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/hotkeys.js [observations]
 *
 * Prints ns/op of `WindowedTopK.observe` (capacity 256, 5 buckets, rotated every 1/5 of the run)
 * on a uniform stream over 1M keys (nearly every observation a newcomer that replaces the
 * minimum: the worst case) and on a Zipf(1.1) stream with one key at 50% (the case hot-key
 * detection is for). Each op builds its key string afresh, as the proxy's parser does, so the
 * key is hot in cache; the first line is that cost alone (key + the `ns + "\n" + key` id), to be
 * subtracted. Last, `top(10)` (what a metrics scrape or a promotion tick costs).
 */
import { WindowedTopK } from '../proxy/hotkeys/topk';
import { zipf } from '../scripts/random';

/** Key ranks of a Zipf(1.1) stream over `n` keys in which rank -1 (the celebrity) takes half. */
function zipfRanks(n: number, length: number): Int32Array {
  const rank = zipf(n, 1.1, Math.random);
  return Int32Array.from({ length }, () => (Math.random() < 0.5 ? -1 : rank()));
}

/** The key of a rank, built afresh (a parser's output). */
const keyOf = (rank: number): string => (rank < 0 ? 'celebrity' : `key:${rank}`);

function measure(label: string, ranks: Int32Array, observe: (id: string) => void, rotate: () => void): void {
  const per = Math.floor(ranks.length / 5);
  for (let i = 0; i < Math.min(ranks.length, 100_000); i++) observe(`bench\n${keyOf(ranks[i])}`); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < ranks.length; i++) {
    observe(`bench\n${keyOf(ranks[i])}`);
    if (i % per === per - 1) rotate();
  }
  const ns = Number(process.hrtime.bigint() - start) / ranks.length;
  console.log(`${label.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/op`);
}

function main(): void {
  const n = Number(process.argv[2] ?? 2_000_000);
  const uniform = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 1_000_000));
  const zipf = zipfRanks(100_000, n);
  let sink = 0;
  measure('key and id only, uniform (subtract)', uniform, (id) => (sink += id.length), () => undefined);
  for (const [label, keys] of [['observe, uniform over 1M keys', uniform], ['observe, Zipf with one key at 50%', zipf]] as const) {
    const sketch = new WindowedTopK(256, 5);
    measure(label, keys, (id) => sketch.observe(id), () => sketch.rotate());
  }
  const sketch = new WindowedTopK(256, 5);
  for (const rank of zipf) sketch.observe(`bench\n${keyOf(rank)}`);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) sink += sketch.top(10).length;
  console.log(`${'top(10) over 5 buckets of 256'.padEnd(44)} ${(Number(process.hrtime.bigint() - start) / 100 / 1000).toFixed(1).padStart(7)} µs/op`);
  if (sink < 0) console.log(sink);
}

main();
