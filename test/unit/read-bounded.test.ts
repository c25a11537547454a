import { readBounded } from '../../shared/read-bounded';

/** A body that never ends: 1 KiB chunks for as long as it is read; counts the chunks handed out. */
function endless(): { stream: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(1024).fill(0x61));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, pulled: () => pulled, cancelled: () => cancelled };
}

describe('readBounded (a body another server controls)', () => {
  test('a body within the limit is read whole', async () => {
    const value = await readBounded(new Response('hello world'), 11);
    expect(value?.toString()).toBe('hello world');
    expect(await readBounded(new Response(null), 10)).toEqual(Buffer.alloc(0));
  });

  test('a declared length over the limit is refused without reading the body', async () => {
    const body = endless();
    const res = new Response(body.stream, { headers: { 'content-length': '5000' } });
    expect(await readBounded(res, 4096)).toBeUndefined();
    expect(body.cancelled()).toBe(true);
    expect(body.pulled()).toBeLessThanOrEqual(1); // the stream's first pull may start on construction
  });

  test('an endless body without a length stops one chunk past the limit', async () => {
    const body = endless();
    expect(await readBounded(new Response(body.stream), 8 * 1024)).toBeUndefined();
    expect(body.cancelled()).toBe(true);
    expect(body.pulled()).toBeLessThanOrEqual(8 + 3); // the limit's chunks, the one past it, and the stream's read-ahead
  });
});
