import fc from 'fast-check';
import { MAX_BATCH_ITEMS, parseBatch } from '../../shared/regions';
import { planBatch } from '../../proxy/region/plan';

/** Values near the batch's shape, so the fuzzer reaches the item checks, not only the top-level ones. */
const nearItem = fc.record({
  seq: fc.oneof(fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2), fc.string()),
  ns: fc.oneof(fc.constantFrom('ns', 'a.b-c_d', '', 'x'.repeat(65), 'bad ns'), fc.string(), fc.integer()),
  key: fc.oneof(fc.constant(null), fc.string(), fc.constant(''), fc.integer(), fc.constant(undefined)),
  tag: fc.oneof(fc.constant(null), fc.string(), fc.constant(undefined), fc.boolean()),
  at: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constant(null)),
}, { requiredKeys: [] });
const nearBatch = fc.record({
  from: fc.oneof(fc.constantFrom('eu', 'us-east.1', '', 'bad region'), fc.string(), fc.integer()),
  sender: fc.oneof(fc.constantFrom('n1', '', 'x'.repeat(129)), fc.string(), fc.constant(null)),
  upTo: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string()),
  items: fc.oneof(fc.array(nearItem, { maxLength: 20 }), fc.array(fc.anything(), { maxLength: 5 }), fc.anything()),
}, { requiredKeys: [] });

/** What the ingest endpoint does with a body: JSON.parse, then parseBatch, then the plan (never a throw). */
function ingest(text: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const batch = parseBatch(json);
  if (typeof batch === 'string') return batch;
  planBatch(batch);
  return batch;
}

describe('region batch parser fuzzing', () => {
  test('any JSON value is a batch or a string error, never a throw', () => {
    fc.assert(fc.property(fc.oneof(fc.jsonValue(), nearBatch), (value) => {
      const out = parseBatch(value);
      if (typeof out === 'string') return;
      expect(typeof out.from).toBe('string');
      expect(out.items.length).toBeLessThanOrEqual(MAX_BATCH_ITEMS);
      let last = -Infinity;
      for (const it of out.items) {
        expect(Number.isSafeInteger(it.seq) && it.seq > last).toBe(true);
        expect(it.key === null || it.tag === null).toBe(true);
        expect(Number.isSafeInteger(it.at) && it.at >= 0).toBe(true);
        last = it.seq;
      }
      const plan = planBatch(out);
      expect(plan.actions.reduce((n, a) => n + a.items, 0)).toBe(out.items.length);
    }), { numRuns: 3000 });
  });

  test('any body text goes through parse and plan without a throw', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json(), nearBatch.map((b) => JSON.stringify(b) ?? '')), (text) => {
      ingest(text);
    }), { numRuns: 2000 });
  });

  test('a batch of the most items parses and plans in bounded time', () => {
    const items = Array.from({ length: MAX_BATCH_ITEMS }, (_, i) => ({ seq: i, ns: `ns${i % 7}`, key: i % 3 === 0 ? null : `k${i}`.repeat(50), tag: i % 3 === 0 ? `t${i % 5}` : null, at: 1_700_000_000_000 + i }));
    const text = JSON.stringify({ from: 'eu', sender: 'n1', upTo: 1, items });
    const started = performance.now();
    for (let i = 0; i < 20; i++) expect(typeof ingest(text)).toBe('object');
    expect((performance.now() - started) / 20).toBeLessThan(50);
    // Over the item limit: refused at once.
    expect(parseBatch({ from: 'eu', sender: 'n', upTo: 1, items: new Array(MAX_BATCH_ITEMS + 1).fill({}) })).toMatch(/at most/);
  });
});
