import fs from 'node:fs';
import autocannon from 'autocannon';
import { LatencyRecorder } from './latency';
import { CpuWindow, type CpuUsage } from './proxy-cpu';
import { bearerOf, ErrorLog, originOf, randomKeyPicker, workerMain, type HttpPhaseTask, type PhaseResult } from './proxy-task';
import { runWrkPhase } from './proxy-wrk';
import { benchKey } from './wire';

/**
 * HTTP load worker: wrk (a child process, proxy-wrk.ts) or autocannon (in this process) against
 * the proxy's HTTP/JSON API, apart from the orchestrator and the cluster. An unmeasured warm-up
 * run, then the measured run.
 *
 *   GET /v1/cache/<ns>/<key>                      (keys preloaded with JSON values)
 *   PUT /v1/cache/<ns>/<key>  {"value":"aaa…"}    (the stored JSON text is valueBytes long)
 *
 * Keys come from a fixed set of `httpPaths` paths spread evenly over the keyspace, in a shuffled
 * order that every connection walks from its own random offset. autocannon builds each request
 * once per connection this way; a `setupRequest` that picks a key per request would rebuild it
 * every time and roughly double the load generator's CPU per request, CPU the proxy shares.
 *
 * Against a secure cluster (task.secure) every request carries `Authorization: Bearer …`, over
 * https:// when the cluster has TLS.
 *
 * Every 2xx answer's latency (autocannon's per-response time, sub-millisecond) goes into a
 * LatencyRecorder, so percentiles are not limited to autocannon's 1 ms histogram buckets.
 */

/** `count` key indexes spread evenly over 1..keys, shuffled (seeded, so every run is the same). */
function keyOrder(keys: number, count: number): number[] {
  const stride = keys / count;
  const order = Array.from({ length: count }, (_, i) => 1 + Math.floor(i * stride));
  const pick = randomKeyPicker(count, 0x5eed);
  for (let i = count - 1; i > 0; i--) {
    const j = pick() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The paths of the phase, in the order the connections walk them. */
function pathsFor(task: HttpPhaseTask): string[] {
  return keyOrder(task.keys, Math.min(task.keys, task.httpPaths)).map((i) => `/v1/cache/${task.namespace}/${encodeURIComponent(benchKey(i))}`);
}

/** The PUT body: a JSON string value whose stored JSON text is valueBytes long. */
function putBody(task: HttpPhaseTask): string {
  return JSON.stringify({ value: 'a'.repeat(Math.max(0, task.valueBytes - 2)) });
}

/** The requests every connection cycles through. */
function requestsFor(task: HttpPhaseTask): autocannon.Request[] {
  const paths = pathsFor(task);
  if (task.op === 'get') return paths.map((path) => ({ method: 'GET', path }));
  const body = putBody(task);
  return paths.map((path) => ({ method: 'PUT', path, headers: { 'content-type': 'application/json' }, body }));
}

/** The part of autocannon's per-connection request iterator that picks where a connection starts. */
interface RequestCursor {
  requests?: unknown[];
  currentRequestIndex?: number;
  currentRequest?: unknown;
}

/**
 * Spreads the connections evenly over the shared order (connection i starts i/connections of the
 * way in), so no two ask for the same key at the same moment: the proxy would coalesce such GETs.
 * Reaches into autocannon's client; when the fields are not there every connection starts at the
 * first path.
 */
function staggerClients(connections: number): (client: autocannon.Client) => void {
  let next = 0;
  return (client) => {
    const cursor = (client as unknown as { requestIterator?: RequestCursor }).requestIterator;
    const requests = cursor?.requests;
    if (!cursor || !Array.isArray(requests) || typeof cursor.currentRequestIndex !== 'number') return;
    const offset = Math.floor(((next++ % connections) * requests.length) / connections);
    cursor.currentRequestIndex = offset;
    cursor.currentRequest = requests[offset];
  };
}

/**
 * A secure cluster's part of the options: the bearer token on every request (autocannon merges
 * `headers` into each request's own) and, with TLS, the CA. autocannon connects with
 * `rejectUnauthorized: false` whatever it is given, so like wrk it does not verify the proxy's
 * certificate; `servername` is the certificate's DNS name (an IP address is no valid SNI name).
 */
function securityOptions(task: HttpPhaseTask): Partial<autocannon.Options> {
  const s = task.secure;
  if (s === undefined) return {};
  const headers = { authorization: bearerOf(s) };
  if (s.caFile === undefined) return { headers };
  return { headers, servername: 'localhost', tlsOptions: { ca: fs.readFileSync(s.caFile) } };
}

function options(task: HttpPhaseTask, seconds: number): autocannon.Options {
  return {
    url: originOf(task.port, task.secure),
    connections: task.connections,
    pipelining: task.pipelining,
    duration: seconds,
    timeout: 10,
    requests: requestsFor(task),
    setupClient: staggerClients(task.connections),
    ...securityOptions(task),
  };
}

/** What a measured run hooks into autocannon: its start, every answer and every request error. */
interface Hooks {
  onStart(): void;
  onResponse(statusCode: number, millis: number): void;
  onError(err: Error): void;
}

/** One autocannon run. */
function cannon(opts: autocannon.Options, hooks?: Hooks): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err as Error) : resolve(result)));
    if (!hooks) return;
    instance.on('start', () => hooks.onStart());
    instance.on('response', (_client, statusCode, _bytes, millis) => hooks.onResponse(statusCode, millis));
    instance.on('reqError', (err: Error) => hooks.onError(err));
  });
}

/** Runs one HTTP phase with the task's driver. */
function runHttpPhase(task: HttpPhaseTask): Promise<PhaseResult> {
  if (task.driver === 'wrk') return runWrkPhase(task, pathsFor(task), task.op === 'put' ? putBody(task) : undefined);
  return runAutocannonPhase(task);
}

/** Runs one HTTP phase: warm-up, then the measured window (from autocannon's start to its end). */
async function runAutocannonPhase(task: HttpPhaseTask): Promise<PhaseResult> {
  if (task.warmupSeconds > 0) await cannon(options(task, task.warmupSeconds));
  const recorder = new LatencyRecorder(Math.ceil(task.seconds * 100_000));
  const problems = new ErrorLog();
  let ok = 0;
  let window: CpuWindow | undefined;
  const result = await cannon(options(task, task.seconds), {
    // Connections are set up (every request built) before 'start'; the window leaves that out.
    onStart: () => (window = CpuWindow.open([...task.watch, { name: 'load generator', pid: process.pid }])),
    onResponse: (statusCode, millis) => {
      if (statusCode < 200 || statusCode >= 300) return problems.add(`HTTP ${statusCode}`);
      ok++;
      recorder.record(millis * 1000);
    },
    onError: (err) => problems.add(err.message),
  });
  if (!window) throw new Error('autocannon finished without starting');
  const cpu: CpuUsage = window.close();
  return {
    ok: true,
    ops: ok,
    seconds: cpu.seconds,
    opsPerSec: ok / cpu.seconds,
    misses: NaN,
    // autocannon counts a connection error or timeout once in `errors`, however many requests it cut.
    errors: result.non2xx + result.errors,
    errorSamples: problems.samples,
    cpu,
    ...recorder.summarize(),
  };
}

if (require.main === module) workerMain<HttpPhaseTask>('http', runHttpPhase);
