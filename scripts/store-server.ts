import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One write the store was asked for (a bulk request's items each count as one). */
export interface StoreCall {
  method: 'PUT' | 'DELETE';
  key: string;
  /** The version sent (NaN when the request had none that parses). */
  version: number;
  /** Date.now() when the request arrived. */
  time: number;
  /** The HTTP status this write was answered (per item for bulk). */
  status: number;
  bulk: boolean;
}

/** One HTTP request as it arrived. */
export interface StoreRequest {
  method: string;
  /** The request target as sent on the wire, before any decoding (`/items/a%2Fb`). */
  rawPath: string;
  time: number;
}

interface Stored {
  /** undefined: deleted (a tombstone keeps the version so an older PUT cannot bring the key back). */
  value: Buffer | undefined;
  version: number;
}

const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
const VERSION_HEADER = 'x-shardcache-version';

/** How a store is started. */
export interface RecordingStoreOptions {
  /** Whether POST /bulk is served (default true); else it answers 404. */
  bulk?: boolean;
  /** Port on 127.0.0.1 (default 0: a free one). `down()` then `up()` listen on the same port again. */
  port?: number;
  /**
   * Keep every request and write in `requests` and `calls` (default true). A benchmark turns it
   * off: the counters (`requestCount`, `writeCount`, `acceptedCount`) still count.
   */
  record?: boolean;
}

/**
 * A real HTTP system of record (issue 17), on 127.0.0.1, implementing the store contract of
 * docs/api.md ("Write policies: the store contract"). The write-policy tests use it
 * (test/helpers/store-server.ts exports it as `TestStore`), and so do the chaos harness
 * (scripts/chaos/write-behind.ts: it fails and goes down on a schedule) and the proxy benchmark's
 * write-policy phases (bench/proxy-policies.ts, with `record: false`):
 *
 *   PUT    /items/{key}  body = value, x-shardcache-version: n → 204; 409 when n < the stored version
 *   DELETE /items/{key}  x-shardcache-version: n                → 204; 409 when n < the stored version
 *   POST   /bulk         {"items":[{op,key,version,value?}]}    → 200 {"results":[{"status":..}]}
 *   GET    /items/{key}  (for inspection)                       → 200 value + version header | 404
 *
 * Versions never go back: a write below the stored version (a delete's tombstone included) is
 * answered 409 and counted in `staleRejected`; an equal version is a duplicate and accepted.
 * Every request (`requests`) and every write (`calls`) is recorded. At run time it can be made
 * `slow(ms)` (answers after ms, then applies), `failing(status)` (answers status to everything,
 * applies nothing), `failKey(key, status)`, `hugeAnswers()` (answers with an endless body),
 * `down()` (listener closed and connections destroyed) and `up()` (listening again on the same
 * port). `close()` leaves no handle behind.
 */
export class RecordingStore {
  readonly items = new Map<string, Stored>();
  readonly calls: StoreCall[] = [];
  readonly requests: StoreRequest[] = [];
  /** Writes refused because their version was below the stored one. */
  staleRejected = 0;
  /** HTTP requests received, writes asked for (a bulk request's items each count) and writes applied (2xx), recorded or not. */
  requestCount = 0;
  writeCount = 0;
  acceptedCount = 0;
  /** Requests answered with the `failing(status)` status (nothing applied). */
  failedAnswers = 0;
  /** TCP connections accepted (keep-alive reuse keeps this low). */
  connections = 0;
  /** Requests being answered now, and the most at once. */
  inFlight = 0;
  peakInFlight = 0;
  /** Answers the client hung up on before they were fully sent. */
  answersCut = 0;
  /** Bytes of the endless answers written before the client hung up. */
  hugeBytesWritten = 0;
  port = 0;

  #server: http.Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #keyStatus = new Map<string, number>();
  #delayMs = 0;
  #failStatus: number | undefined;
  #huge: { declared: boolean } | undefined;
  readonly #bulk: boolean;
  readonly #record: boolean;

  private constructor(bulk: boolean, record: boolean) {
    this.#bulk = bulk;
    this.#record = record;
  }

  /** Starts listening (on `options.port`, or a free port). */
  static async start(options: RecordingStoreOptions = {}): Promise<RecordingStore> {
    const store = new RecordingStore(options.bulk ?? true, options.record ?? true);
    store.port = options.port ?? 0;
    await store.up();
    return store;
  }

  /** The URL template of the store's items. */
  get template(): string {
    return `http://127.0.0.1:${this.port}/items/{key}`;
  }

  get bulkUrl(): string {
    return `http://127.0.0.1:${this.port}/bulk`;
  }

  /** The live value of `key` (undefined when absent or deleted). */
  value(key: string): Buffer | undefined {
    return this.items.get(key)?.value;
  }

  /** The stored version of `key` (a deleted key keeps its version). */
  version(key: string): number | undefined {
    return this.items.get(key)?.version;
  }

  slow(ms: number): this {
    this.#delayMs = ms;
    return this;
  }

  failing(status: number): this {
    this.#failStatus = status;
    return this;
  }

  /** Answers `status` to writes of `key` only (in bulk requests too), applying nothing. */
  failKey(key: string, status: number): this {
    this.#keyStatus.set(key, status);
    return this;
  }

  /** Every answer gets an endless body (declared: with a huge content-length; else chunked). */
  hugeAnswers(declared = false): this {
    this.#huge = { declared };
    return this;
  }

  /** Back to prompt, correct answers. */
  healthy(): this {
    this.#delayMs = 0;
    this.#failStatus = undefined;
    this.#huge = undefined;
    this.#keyStatus.clear();
    return this;
  }

  /** Stops accepting: the listener is closed and every connection destroyed (clients see refused connections). */
  async down(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  /** Listens again (on the same port once one was taken). */
  async up(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = http.createServer((req, res) => this.#answer(req, res));
    server.keepAliveTimeout = 5_000;
    server.on('connection', (socket: Socket) => {
      this.connections += 1;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Writes of `key`, in arrival order. */
  callsOf(key: string): StoreCall[] {
    return this.calls.filter((call) => call.key === key);
  }

  close(): Promise<void> {
    return this.down();
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const time = Date.now();
    const rawPath = req.url ?? '';
    this.requestCount += 1;
    if (this.#record) this.requests.push({ method: req.method ?? '', rawPath, time });
    this.inFlight += 1;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
    };
    res.on('finish', end);
    res.on('close', () => {
      if (!res.writableFinished) this.answersCut += 1;
      end();
    });

    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) tooBig = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const respond = (): void => {
        if (res.destroyed) return;
        if (tooBig) return void res.writeHead(413).end();
        if (this.#huge !== undefined) return this.#endless(res, this.#huge.declared);
        if (this.#failStatus !== undefined) {
          this.failedAnswers += 1;
          return void res.writeHead(this.#failStatus, { 'content-type': 'text/plain' }).end('store failing');
        }
        this.#route(req, res, rawPath, body, time);
      };
      if (this.#delayMs <= 0) return respond();
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        respond();
      }, this.#delayMs);
      this.#timers.add(timer);
    });
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse, rawPath: string, body: Buffer, time: number): void {
    const path = rawPath.split('?')[0];
    if (path === '/bulk') {
      if (!this.#bulk || req.method !== 'POST') return void res.writeHead(404).end();
      return this.#bulkAnswer(res, body, time);
    }
    const match = /^\/items\/([^/]+)$/.exec(path);
    if (match === null) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such path');
    let key: string;
    try {
      key = decodeURIComponent(match[1]);
    } catch {
      return void res.writeHead(400).end();
    }
    const method = req.method;
    if (method === 'GET') {
      const stored = this.items.get(key);
      if (stored?.value === undefined) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-type': 'application/octet-stream', [VERSION_HEADER]: String(stored.version) }).end(stored.value);
    }
    if (method !== 'PUT' && method !== 'DELETE') return void res.writeHead(405).end();
    const header = req.headers[VERSION_HEADER];
    const version = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : Number.NaN;
    const status = this.#apply(method, key, version, method === 'PUT' ? body : undefined);
    this.#note({ method, key, version, time, status, bulk: false });
    res.writeHead(status).end();
  }

  #bulkAnswer(res: http.ServerResponse, body: Buffer, time: number): void {
    let items: unknown;
    try {
      items = (JSON.parse(body.toString('utf8')) as { items?: unknown }).items;
    } catch {
      items = undefined;
    }
    if (!Array.isArray(items)) return void res.writeHead(400, { 'content-type': 'text/plain' }).end('expected {"items": [...]}');
    const results = items.map((item: { op?: unknown; key?: unknown; version?: unknown; value?: unknown }) => {
      const method = item?.op === 'put' ? 'PUT' : item?.op === 'delete' ? 'DELETE' : undefined;
      if (method === undefined || typeof item.key !== 'string') return { status: 400 };
      const version = typeof item.version === 'number' && Number.isSafeInteger(item.version) && item.version >= 0 ? item.version : Number.NaN;
      if (method === 'PUT' && typeof item.value !== 'string') return { status: 400 };
      const status = this.#apply(method, item.key, version, method === 'PUT' ? Buffer.from(item.value as string, 'base64') : undefined);
      this.#note({ method, key: item.key, version, time, status, bulk: true });
      return { status };
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
  }

  #note(call: StoreCall): void {
    this.writeCount += 1;
    if (call.status >= 200 && call.status < 300) this.acceptedCount += 1;
    if (this.#record) this.calls.push(call);
  }

  /** Applies one write under "versions never go back"; its status. */
  #apply(method: 'PUT' | 'DELETE', key: string, version: number, value: Buffer | undefined): number {
    const forced = this.#keyStatus.get(key);
    if (forced !== undefined) return forced;
    if (Number.isNaN(version)) return 400;
    const stored = this.items.get(key);
    if (stored !== undefined && version < stored.version) {
      this.staleRejected += 1;
      return 409;
    }
    this.items.set(key, { value: method === 'PUT' ? value : undefined, version });
    return 204;
  }

  /** Writes an endless body until the client hangs up (or 256 MiB, a safety stop). */
  #endless(res: http.ServerResponse, declared: boolean): void {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const limit = 256 * 1024 * 1024;
    res.writeHead(200, declared ? { 'content-type': 'text/plain', 'content-length': String(limit) } : { 'content-type': 'text/plain' });
    const pump = (): void => {
      while (!res.destroyed && this.hugeBytesWritten < limit) {
        this.hugeBytesWritten += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    pump();
  }
}
