import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpCall } from './cluster';
import { waitFor } from './shard-nodes';
import { shardctlInProcess } from './shardctl';

/** How the test origin answers a key. */
export type OriginMode = 'value' | 'missing' | 'error' | 'hang';

/**
 * A real HTTP origin on 127.0.0.1 for read-through tests: `GET /items/{key}` answers
 * `{"key":..,"load":n}` (n counts loads of that key) as application/json after `delayMs`,
 * or 404 / 500 / nothing by the key's mode. Counts every request per key with its time.
 */
export class TestOrigin {
  readonly #server: http.Server;
  /** Request times (Date.now) per key. */
  readonly requests = new Map<string, number[]>();
  readonly modes = new Map<string, OriginMode>();
  /** Per-key answer delays, over `delayMs`. */
  readonly delays = new Map<string, number>();
  delayMs = 0;
  port = 0;

  private constructor() {
    this.#server = http.createServer((req, res) => this.#answer(req, res));
  }

  static async start(delayMs = 0): Promise<TestOrigin> {
    const origin = new TestOrigin();
    origin.delayMs = delayMs;
    await new Promise<void>((resolve) => origin.#server.listen(0, '127.0.0.1', resolve));
    origin.port = (origin.#server.address() as AddressInfo).port;
    return origin;
  }

  /** The URL template for `shardctl ns set --origin`. */
  get template(): string {
    return `http://127.0.0.1:${this.port}/items/{key}`;
  }

  count(key: string): number {
    return this.requests.get(key)?.length ?? 0;
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const key = decodeURIComponent((req.url ?? '').replace(/^\/items\//, ''));
    const times = this.requests.get(key) ?? [];
    times.push(Date.now());
    this.requests.set(key, times);
    const mode = this.modes.get(key) ?? 'value';
    if (mode === 'hang') return;
    setTimeout(() => {
      if (mode === 'missing') res.writeHead(404, { 'content-type': 'text/plain' }).end('no such item');
      else if (mode === 'error') res.writeHead(500, { 'content-type': 'text/plain' }).end('origin broke');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ key, load: times.length }));
    }, this.delays.get(key) ?? this.delayMs);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Sets a namespace policy with shardctl and waits until every proxy (admin URL) routes by it. */
export async function setPolicy(etcd: string, cluster: string, ns: string, flags: string[], adminUrls: string[], check: (policy: any) => boolean): Promise<void> {
  const res = await shardctlInProcess(['ns', 'set', ns, ...flags, '--etcd', etcd, '--cluster', cluster]);
  if (res.code !== 0) throw new Error(`shardctl ns set failed: ${res.stderr}`);
  for (const admin of adminUrls) {
    await waitFor(`the proxy at ${admin} to apply the policy of ${ns}`, async () => {
      const topo = await httpCall(admin, 'GET', '/v1/admin/topology');
      const policy = topo.json?.namespaces?.[ns];
      return policy !== undefined && check(policy);
    }, 10_000, 50);
  }
}

/**
 * A real HTTP origin that records the raw request target of every request (`/items/a%2Fb?x`, as
 * sent on the wire, before any decoding) and answers each with `{"path": <that target>}` as
 * application/json: for tests that must see exactly which path a key was loaded from.
 */
export class PathRecordingOrigin {
  readonly #server: http.Server;
  /** Raw request targets, in arrival order. */
  readonly paths: string[] = [];
  port = 0;

  private constructor() {
    this.#server = http.createServer((req, res) => {
      this.paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url ?? '' }));
    });
  }

  static async start(): Promise<PathRecordingOrigin> {
    const origin = new PathRecordingOrigin();
    await new Promise<void>((resolve) => origin.#server.listen(0, '127.0.0.1', resolve));
    origin.port = (origin.#server.address() as AddressInfo).port;
    return origin;
  }

  /** The URL template for `shardctl ns set --origin`, keys under `/items/`. */
  get template(): string {
    return `http://127.0.0.1:${this.port}/items/{key}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
