/**
 * Hot-key detection cost: ns per observation of the space-saving sketch on the proxy's GET path.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/hotkeys.js [observations]
 *
 * Prints ns/op of `WindowedTopK.observe` (capacity 256, 5 buckets, rotated every 1/5 of the run)
 * on a uniform stream over 1M keys (every observation a newcomer: the worst case, a replacement
 * at the heap's root) and on a Zipf(1.1) stream with one key at 50% (the case hot-key
 * detection is for), next to the cost of building the `ns + "\n" + key` id alone, and
 * `top(10)` (what a metrics scrape or a promotion tick costs).
 */
import { WindowedTopK } from '../proxy/hotkeys/topk';

function zipfKeys(n: number, length: number): string[] {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** 1.1;
  const out: string[] = [];
  for (let i = 0; i < length; i++) {
    if (Math.random() < 0.5) {
      out.push('celebrity');
      continue;
    }
    const u = Math.random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out.push(`key:${lo}`);
  }
  return out;
}

function measure(label: string, keys: readonly string[], observe: (id: string) => void, rotate: () => void): void {
  const per = Math.floor(keys.length / 5);
  for (let i = 0; i < Math.min(keys.length, 100_000); i++) observe(`bench\n${keys[i]}`); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < keys.length; i++) {
    observe(`bench\n${keys[i]}`);
    if (i % per === per - 1) rotate();
  }
  const ns = Number(process.hrtime.bigint() - start) / keys.length;
  console.log(`${label.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/op`);
}

function main(): void {
  const n = Number(process.argv[2] ?? 2_000_000);
  const uniform = Array.from({ length: n }, () => `key:${Math.floor(Math.random() * 1_000_000)}`);
  const zipf = zipfKeys(100_000, n);
  let sink = 0;
  measure('id only (ns + "\\n" + key), uniform', uniform, (id) => (sink += id.length), () => undefined);
  for (const [label, keys] of [['observe, uniform over 1M keys', uniform], ['observe, Zipf with one key at 50%', zipf]] as const) {
    const sketch = new WindowedTopK(256, 5);
    measure(label, keys, (id) => sketch.observe(id), () => sketch.rotate());
  }
  const sketch = new WindowedTopK(256, 5);
  for (const k of zipf) sketch.observe(k);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) sink += sketch.top(10).length;
  console.log(`${'top(10) over 5 buckets of 256'.padEnd(44)} ${(Number(process.hrtime.bigint() - start) / 100 / 1000).toFixed(1).padStart(7)} µs/op`);
  if (sink < 0) console.log(sink);
}

main();
