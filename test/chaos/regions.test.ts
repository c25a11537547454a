import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeRange } from '../helpers/etcd';
import { alive, runProgram } from '../helpers/process';

/**
 * The chaos harness's region scenario (`npm run chaos -- --regions`, scripts/chaos/regions.ts):
 * two regions as processes, writes in a, reads (and fills) in b, the relay between them cut
 * twice, a's primary restarted and then killed -9 during the first cut, both proxies restarted,
 * b's primary restarted during the second cut. About 60 s; its own file so the main chaos test's
 * time does not grow.
 */
const HARNESS = 'scripts/chaos/main.js';
jest.setTimeout(200_000);

let dir: string;
let report: any;
let run: { code: number | null; stdout: string; stderr: string };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-chaos-regions-test-'));
  const base = await freeRange(21); // two regions of 10 ports and the relay
  run = await runProgram(HARNESS, [
    '--regions', '--port-base', `${base}`, '--lease-ttl', '2', '--max-seconds', '160', '--data-dir', path.join(dir, 'data'), '--report-json', path.join(dir, 'report.json'),
  ], {}, 180_000);
  process.stdout.write(`${run.stdout}\n${run.stderr}`);
  report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
}, 200_000);

afterAll(() => {
  for (const pid of report?.pids ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('every invariant holds: the staleness bound outside fault windows, convergence after each, no invalidation lost', () => {
  expect(report.error).toBeUndefined();
  const failed = report.verdict.invariants.filter((i: any) => !i.ok);
  expect(failed).toEqual([]);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^chaos regions report: \d+ writes in a, \d+ fills in b; staleness of b behind a's acknowledged writes outside fault windows: p50 \d+ ms, p99 \d+ ms, worst \d+ ms/m);
});

test('the faults were applied: two cuts with restarts of a\'s and b\'s nodes, both proxies restarted; b stale across the cuts and then converged', () => {
  const windows = report.verdict.windows as Array<{ what: string; staleKeys: number; convergeMs: number }>;
  expect(windows.map((w) => w.what)).toEqual([
    expect.stringMatching(/^link cut 10 s; a's primary restarted \(SIGTERM\), then the next primary killed -9 and restarted$/),
    'b\'s proxy restarted', 'a\'s proxy restarted', expect.stringMatching(/^link cut 5 s; b's primary restarted/),
  ]);
  expect(windows[0].staleKeys).toBeGreaterThan(0); // writes went on during the cut
  expect(report.verdict.unresolved).toEqual([]);
  expect(report.verdict.samples).toBeGreaterThan(50);
  expect(report.verdict.received).toMatchObject({ from: 'a' });
});

test('no program is left behind', () => {
  expect(report.pids.length).toBeGreaterThanOrEqual(10);
  expect(report.pids.filter((pid: number) => alive(pid))).toEqual([]);
});
