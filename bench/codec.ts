import { encodeFrame, FRAME_HEADER_BYTES } from '../shared/frame';
import { checkPlain, unpackr } from '../shared/msgpack';
import { Op } from '../shared/protocol';

/**
 * `npm run bench -- codec`: what the plain-msgpack guard (shared/msgpack.ts `checkPlain`) costs per
 * decoded frame, next to msgpackr's decode of the same bytes, for the frames a node and a proxy
 * see most: a GET, a SET of 100 B, an MGET of 10 keys, a replication snapshot chunk of 2,000
 * entries. In process, one core; prints ns per frame for the guard alone, the decode alone, and both.
 */
export const CODEC_BENCH_USAGE = 'npm run bench -- codec [--seconds S]\n  ns per frame of the plain-msgpack guard and of msgpackr decode, for four frame shapes';

function frames(): Array<[string, Buffer]> {
  const value = Buffer.alloc(100, 'v');
  const chunk: unknown[] = [];
  for (let i = 0; i < 2000; i++) chunk.push('ns', `key:${i}`, value, i, 0, 0, null);
  return [
    ['GET', encodeFrame([17, Op.GET, 'ns', 'key:0000001', 'primary'])],
    ['SET 100 B', encodeFrame([17, Op.SET, 1, 'ns', 'key:0000001', value, 0, 0, 0, 0, null])],
    ['MGET 10 keys', encodeFrame([17, Op.MGET, 'ns', Array.from({ length: 10 }, (_, i) => `key:000000${i}`)])],
    ['snapshot chunk, 2,000 entries', encodeFrame([0, Op.REPL_SNAPSHOT, chunk])],
  ];
}

/** ns per call of `fn`, run for about `ms`. */
function nsPer(fn: () => void, ms: number): number {
  for (let i = 0; i < 1000; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < until) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / n;
}

export function parseCodecBenchOptions(args: string[]): { seconds: number } | undefined {
  if (args.includes('--help')) return undefined;
  const at = args.indexOf('--seconds');
  const seconds = at >= 0 ? Number(args[at + 1]) : 1;
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
  return { seconds };
}

export async function runCodecBench(o: { seconds: number }): Promise<number> {
  const ms = Math.round((o.seconds * 1000) / 3);
  console.log('frame                          | guard ns | decode ns | both ns | guard share');
  console.log('------------------------------ | -------- | --------- | ------- | -----------');
  let sink = 0;
  for (const [name, frame] of frames()) {
    const start = FRAME_HEADER_BYTES;
    const end = frame.length;
    const guard = nsPer(() => void (sink += checkPlain(frame, start, end)), ms);
    const decode = nsPer(() => void (sink += (unpackr.unpack(frame, { start, end }) as unknown[]).length), ms);
    const both = nsPer(() => {
      checkPlain(frame, start, end);
      sink += (unpackr.unpack(frame, { start, end }) as unknown[]).length;
    }, ms);
    console.log(`${name.padEnd(30)} | ${guard.toFixed(0).padStart(8)} | ${decode.toFixed(0).padStart(9)} | ${both.toFixed(0).padStart(7)} | ${((guard / decode) * 100).toFixed(1).padStart(10)} %`);
  }
  return sink > 0 ? 0 : 1;
}
