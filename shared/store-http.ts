import http from 'node:http';
import https from 'node:https';
import { ConfigError } from './errors';
import { mapBounded } from './map-bounded';
import { isDotSegmentKey, KEY_PLACEHOLDER, originTemplateProblem, originUrl } from './url-template';

/**
 * The HTTP client of the write policies' system of record (issue 17; the contract a store
 * implements is docs/api.md, "Write policies: the store contract"). Dependency-free: Node's
 * `http`/`https` with one keep-alive agent per client, so a flusher reuses its connections.
 *
 *   put(key, value, version)  → PUT <template with {key}>, body = value,
 *                                content-type: application/octet-stream, x-shardcache-version: version
 *   delete(key, version)      → DELETE <template with {key}>, x-shardcache-version: version
 *   putMany(writes)           → POST <bulkUrl> (JSON, below) when a bulk URL is set; else flushEach
 *   flushEach(writes, n)      → put/delete per key, at most n at a time
 *
 * A key's URL is built exactly as the read-through origin's (`shared/url-template.ts`): the key is
 * one percent-encoded path segment, and the keys `.`/`..` (and keys that percent-decode to them)
 * are refused before any request, so no key walks the store's path.
 *
 * Every outcome is a value, never a rejection:
 *
 *   2xx (DELETE: 404 and 410 too)  → ok
 *   409, 412                       → stale: the store holds a newer version; the write is superseded (done)
 *   other statuses, refused or reset connections, a bulk answer that cannot be read → error
 *   no full answer within the timeout (waiting for a free request slot included) → timeout
 *
 * `error.retryable` says whether sending the same write again may succeed: false for writes
 * refused here (dot-segment key, body over the bound, bad version) and for statuses that will not
 * change (3xx, 4xx but 408/425/429); true otherwise (5xx, 408/425/429, network, full queue). It is
 * a hint for write-behind; retrying is always safe because the store drops versions it has passed.
 *
 * Bounds: `timeoutMs` per request (from the call: a wait for a slot counts), `maxConcurrent`
 * requests in flight per client (the agent's sockets too), `maxQueued` waiting for a slot,
 * `maxBodyBytes` per value, `maxBulkItems`/`maxBulkBytes` per bulk request (bigger batches are
 * split), and answers: a PUT/DELETE answer body is read and discarded up to `maxResponseBytes`,
 * past which (or when its declared length is over it) the connection is destroyed; the status
 * alone decides the outcome. A bulk answer over its bound is an error for the whole request.
 */

/** The header carrying the version of a write. */
export const VERSION_HEADER = 'x-shardcache-version';

export type StoreOutcome =
  | { kind: 'ok' }
  | { kind: 'stale' }
  | { kind: 'error'; status?: number; reason: string; retryable: boolean }
  | { kind: 'timeout' };

/** One write of a batch: a value at a version, or a delete at a version. */
export type StoreWrite =
  | { key: string; value: Buffer; version: number; deleted?: false }
  | { key: string; value?: Buffer; version: number; deleted: true };

export interface StoreHttpOptions {
  /** `http(s)://host/items/{key}`: `{key}` in the path or query (as a read-through origin). */
  template: string;
  /** `http(s)://host/bulk`: the store's bulk endpoint, when it offers one. */
  bulkUrl?: string;
  /** Deadline of one request, from the call (default 2000 ms). */
  timeoutMs?: number;
  /** Requests in flight at once (default 8). */
  maxConcurrent?: number;
  /** Requests waiting for a slot before more are refused (default 10 000). */
  maxQueued?: number;
  /** Largest value sent (default 1 MiB, a namespace's default maxItemBytes). */
  maxBodyBytes?: number;
  /** Writes per bulk request (default 500). */
  maxBulkItems?: number;
  /** Bytes per bulk request body (default the larger of 8 MiB and what one maxBodyBytes value needs). */
  maxBulkBytes?: number;
  /** Bytes of a PUT/DELETE answer read before the connection is dropped (default 64 KiB). */
  maxResponseBytes?: number;
}

export interface StoreClientStats {
  /** HTTP requests sent (a retry on a reused keep-alive socket counts again). */
  requests: number;
  /** Requests that went out on a kept-alive connection. */
  reusedSockets: number;
  inFlight: number;
  peakInFlight: number;
  queued: number;
}

const DEFAULTS = {
  timeoutMs: 2000,
  maxConcurrent: 8,
  maxQueued: 10_000,
  maxBodyBytes: 1024 * 1024,
  maxBulkItems: 500,
  maxResponseBytes: 64 * 1024,
};

/** Room in a bulk answer per item (`{"status":204,"error":"..."}`), over maxResponseBytes. */
const BULK_ANSWER_BYTES_PER_ITEM = 256;
/** JSON around one item besides its key and value (`{"op":"delete","key":"","version":9007199254740991,"value":""},`). */
const BULK_ITEM_OVERHEAD = 96;

const base64Length = (bytes: number): number => Math.ceil(bytes / 3) * 4;

/** Answers the status of a single PUT/DELETE (or of one bulk item) means. */
export function outcomeOfStatus(status: number, method: 'PUT' | 'DELETE'): StoreOutcome {
  if (status >= 200 && status <= 299) return { kind: 'ok' };
  if (method === 'DELETE' && (status === 404 || status === 410)) return { kind: 'ok' };
  if (status === 409 || status === 412) return { kind: 'stale' };
  return { kind: 'error', status, reason: `store answered ${status}`, retryable: isRetryableStatus(status) };
}

/** Whether a store answering `status` may take the same write later. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

const refused = (reason: string): StoreOutcome => ({ kind: 'error', reason, retryable: false });

/** Why a write cannot be sent at all, or undefined. */
function writeProblem(write: { key: string; version: number; value?: Buffer; deleted?: boolean }, maxBodyBytes: number): string | undefined {
  if (typeof write.key !== 'string' || write.key.length === 0) return 'the key is empty';
  if (isDotSegmentKey(write.key)) return 'the key cannot be sent as a path segment ("." and ".." and keys that percent-decode to them)';
  try {
    encodeURIComponent(write.key);
  } catch {
    return 'the key is not well-formed Unicode (a lone surrogate) and has no URL';
  }
  if (!Number.isSafeInteger(write.version) || write.version < 0) return 'the version is not a non-negative integer';
  if (write.deleted !== true) {
    if (!Buffer.isBuffer(write.value)) return 'a write that is not a delete has no value';
    if (write.value.length > maxBodyBytes) return `the value of ${write.value.length} bytes exceeds the store body limit of ${maxBodyBytes}`;
  }
  return undefined;
}

/** An HTTP exchange's result before it is given a meaning. */
type Exchange =
  | { kind: 'answer'; status: number; body: Buffer; cut: boolean }
  | { kind: 'timeout' }
  | { kind: 'error'; reason: string; code?: string; reused: boolean };

/** Slots of a client: at most `limit` in flight, at most `maxQueued` waiting, waiting bounded by a deadline. */
class Slots {
  inFlight = 0;
  peak = 0;
  readonly #waiting: Array<() => void> = [];
  constructor(private readonly limit: number, private readonly maxQueued: number) {}

  get queued(): number {
    return this.#waiting.length;
  }

  /** true when a slot is held (release it), false when the deadline passed first, 'full' when the queue is. */
  acquire(deadline: number): Promise<boolean | 'full'> | boolean | 'full' {
    if (this.inFlight < this.limit) return this.#take();
    if (this.#waiting.length >= this.maxQueued) return 'full';
    return new Promise((resolve) => {
      const grant = (): void => {
        clearTimeout(timer);
        resolve(this.#take());
      };
      const timer = setTimeout(() => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(false);
      }, Math.max(0, deadline - Date.now()));
      this.#waiting.push(grant);
    });
  }

  release(): void {
    this.inFlight -= 1;
    const next = this.#waiting.shift();
    if (next !== undefined) next();
  }

  #take(): true {
    this.inFlight += 1;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
    return true;
  }
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`store client: ${name} must be a positive integer (got ${String(value)})`);
  return v;
}

export class StoreClient {
  readonly template: string;
  readonly bulkUrl: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #maxBulkItems: number;
  readonly #maxBulkBytes: number;
  readonly #maxResponseBytes: number;
  readonly #maxConcurrent: number;
  readonly #slots: Slots;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;
  #requests = 0;
  #reused = 0;
  #closed = false;

  /** Throws ConfigError for a template or bulk URL that cannot be used, or bounds that are not positive integers. */
  constructor(options: StoreHttpOptions) {
    const problem = originTemplateProblem(options.template, 'the store template');
    if (problem !== undefined) throw new ConfigError(problem);
    this.template = options.template;
    if (options.bulkUrl !== undefined) {
      const bulkProblem = options.bulkUrl.includes(KEY_PLACEHOLDER)
        ? 'the store bulk URL names no key: it has no {key}'
        : originTemplateProblem(options.bulkUrl, 'the store bulk URL');
      if (bulkProblem !== undefined) throw new ConfigError(bulkProblem);
    }
    this.bulkUrl = options.bulkUrl;
    this.#timeoutMs = positiveInt('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs);
    this.#maxConcurrent = positiveInt('maxConcurrent', options.maxConcurrent, DEFAULTS.maxConcurrent);
    this.#maxBodyBytes = positiveInt('maxBodyBytes', options.maxBodyBytes, DEFAULTS.maxBodyBytes);
    this.#maxBulkItems = positiveInt('maxBulkItems', options.maxBulkItems, DEFAULTS.maxBulkItems);
    this.#maxResponseBytes = positiveInt('maxResponseBytes', options.maxResponseBytes, DEFAULTS.maxResponseBytes);
    // One value at the body bound must fit a bulk request alone (base64 plus its key and fields).
    const oneItem = base64Length(this.#maxBodyBytes) + BULK_ITEM_OVERHEAD + 16 * 1024;
    this.#maxBulkBytes = positiveInt('maxBulkBytes', options.maxBulkBytes, Math.max(8 * 1024 * 1024, oneItem));
    if (this.#maxBulkBytes < oneItem) {
      throw new ConfigError(`store client: maxBulkBytes (${this.#maxBulkBytes}) must hold one value of maxBodyBytes (${this.#maxBodyBytes}) in base64: at least ${oneItem}`);
    }
    const queued = options.maxQueued ?? DEFAULTS.maxQueued;
    if (!Number.isSafeInteger(queued) || queued < 0) throw new ConfigError(`store client: maxQueued must be a non-negative integer (got ${String(options.maxQueued)})`);
    this.#slots = new Slots(this.#maxConcurrent, queued);
    const agentOptions = { keepAlive: true, maxSockets: this.#maxConcurrent, maxFreeSockets: this.#maxConcurrent };
    this.#httpAgent = new http.Agent(agentOptions);
    this.#httpsAgent = new https.Agent(agentOptions);
  }

  /** Whether putMany sends one request per batch (else it writes key by key). */
  get hasBulk(): boolean {
    return this.bulkUrl !== undefined;
  }

  stats(): StoreClientStats {
    return { requests: this.#requests, reusedSockets: this.#reused, inFlight: this.#slots.inFlight, peakInFlight: this.#slots.peak, queued: this.#slots.queued };
  }

  /** PUT `value` at `version` under `key`'s URL. */
  put(key: string, value: Buffer, version: number): Promise<StoreOutcome> {
    return this.#single({ key, value, version });
  }

  /** DELETE `key`'s URL at `version` (a store without the key answers 404/410: ok). */
  delete(key: string, version: number): Promise<StoreOutcome> {
    return this.#single({ key, version, deleted: true });
  }

  /** One write by its own request. */
  write(write: StoreWrite): Promise<StoreOutcome> {
    return this.#single(write);
  }

  /** Each write by its own request, at most `concurrency` at once (and never over maxConcurrent); outcomes in order. */
  flushEach(writes: readonly StoreWrite[], concurrency = this.#maxConcurrent): Promise<StoreOutcome[]> {
    return mapBounded(writes, Math.min(concurrency, this.#maxConcurrent), (write) => this.#single(write));
  }

  /**
   * Writes a batch: through the bulk endpoint when one is set (split into requests of at most
   * maxBulkItems items and maxBulkBytes bytes, sent within the concurrency limit), else key by key
   * (flushEach). Outcomes in the writes' order, one each.
   */
  async putMany(writes: readonly StoreWrite[]): Promise<StoreOutcome[]> {
    if (this.bulkUrl === undefined) return this.flushEach(writes);
    const bulkUrl = this.bulkUrl;
    const outcomes = new Array<StoreOutcome>(writes.length);
    // Items as JSON text; writes that cannot be sent are answered here and left out.
    const chunks: Array<{ indexes: number[]; items: string[]; bytes: number }> = [];
    let current: { indexes: number[]; items: string[]; bytes: number } | undefined;
    writes.forEach((write, index) => {
      const problem = writeProblem(write, this.#maxBodyBytes);
      if (problem !== undefined) {
        outcomes[index] = refused(problem);
        return;
      }
      const item = JSON.stringify(write.deleted === true
        ? { op: 'delete', key: write.key, version: write.version }
        : { op: 'put', key: write.key, version: write.version, value: write.value.toString('base64') });
      const bytes = Buffer.byteLength(item) + 1;
      if (current === undefined || current.items.length >= this.#maxBulkItems || current.bytes + bytes > this.#maxBulkBytes) {
        current = { indexes: [], items: [], bytes: '{"items":[]}'.length };
        chunks.push(current);
      }
      current.indexes.push(index);
      current.items.push(item);
      current.bytes += bytes;
    });
    await Promise.all(chunks.map(async (chunk) => {
      const results = await this.#bulk(bulkUrl, chunk.items, writes, chunk.indexes);
      chunk.indexes.forEach((writeIndex, i) => (outcomes[writeIndex] = results[i]));
    }));
    return outcomes;
  }

  /** Drops the kept-alive connections; requests after this are errors. */
  close(): void {
    this.#closed = true;
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  async #single(write: StoreWrite): Promise<StoreOutcome> {
    const problem = writeProblem(write, this.#maxBodyBytes);
    if (problem !== undefined) return refused(problem);
    const method = write.deleted === true ? 'DELETE' : 'PUT';
    const headers: http.OutgoingHttpHeaders = { [VERSION_HEADER]: String(write.version) };
    let body: Buffer | undefined;
    if (method === 'PUT') {
      body = write.value as Buffer;
      headers['content-type'] = 'application/octet-stream';
    }
    const answer = await this.#send(method, originUrl(this.template, write.key), headers, body, this.#maxResponseBytes, false);
    if (answer.kind !== 'answer') return answer.kind === 'timeout' ? answer : { kind: 'error', reason: answer.reason, retryable: true };
    return outcomeOfStatus(answer.status, method);
  }

  async #bulk(url: string, items: string[], writes: readonly StoreWrite[], indexes: number[]): Promise<StoreOutcome[]> {
    const all = (outcome: StoreOutcome): StoreOutcome[] => items.map(() => outcome);
    const body = Buffer.from(`{"items":[${items.join(',')}]}`);
    const bound = this.#maxResponseBytes + BULK_ANSWER_BYTES_PER_ITEM * items.length;
    const answer = await this.#send('POST', url, { 'content-type': 'application/json' }, body, bound, true);
    if (answer.kind === 'timeout') return all(answer);
    if (answer.kind === 'error') return all({ kind: 'error', reason: answer.reason, retryable: true });
    if (answer.status < 200 || answer.status > 299) {
      return all({ kind: 'error', status: answer.status, reason: `store answered ${answer.status} to the batch`, retryable: isRetryableStatus(answer.status) });
    }
    if (answer.cut) return all({ kind: 'error', reason: `the store's bulk answer exceeds ${bound} bytes`, retryable: true });
    let results: unknown;
    try {
      results = (JSON.parse(answer.body.toString('utf8')) as { results?: unknown } | null)?.results;
    } catch {
      results = undefined;
    }
    if (!Array.isArray(results) || results.length !== items.length) {
      return all({ kind: 'error', reason: 'the store\'s bulk answer is not {"results": [...]} with one result per item', retryable: true });
    }
    return results.map((result: unknown, i): StoreOutcome => {
      const status = (result as { status?: unknown } | null)?.status;
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
        return { kind: 'error', reason: `the store's bulk result ${i} has no HTTP status`, retryable: true };
      }
      return outcomeOfStatus(status, writes[indexes[i]].deleted === true ? 'DELETE' : 'PUT');
    });
  }

  /** One request within the slots and the deadline; retried once when a kept-alive connection turns out closed. */
  async #send(method: string, url: string, headers: http.OutgoingHttpHeaders, body: Buffer | undefined, maxAnswer: number, keepBody: boolean): Promise<Exchange> {
    if (this.#closed) return { kind: 'error', reason: 'the store client is closed', reused: false };
    const deadline = Date.now() + this.#timeoutMs;
    const slot = await this.#slots.acquire(deadline);
    if (slot === 'full') return { kind: 'error', reason: 'too many store requests waiting', reused: false };
    if (!slot) return { kind: 'timeout' };
    try {
      const first = await this.#exchange(method, url, headers, body, maxAnswer, keepBody, deadline);
      // A kept-alive socket the store closed while idle: the request never reached it (safe to resend; versions make it idempotent anyway).
      if (first.kind === 'error' && first.reused && (first.code === 'ECONNRESET' || first.code === 'EPIPE') && Date.now() < deadline && !this.#closed) {
        return await this.#exchange(method, url, headers, body, maxAnswer, keepBody, deadline);
      }
      return first;
    } finally {
      this.#slots.release();
    }
  }

  #exchange(method: string, url: string, headers: http.OutgoingHttpHeaders, body: Buffer | undefined, maxAnswer: number, keepBody: boolean, deadline: number): Promise<Exchange> {
    return new Promise((resolve) => {
      const target = new URL(url);
      const tls = target.protocol === 'https:';
      const sent: http.OutgoingHttpHeaders = { ...headers };
      if (body !== undefined) sent['content-length'] = body.length;
      let settled = false;
      const finish = (result: Exchange): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      this.#requests += 1;
      const req = (tls ? https : http).request(target, { method, headers: sent, agent: tls ? this.#httpsAgent : this.#httpAgent });
      const timer = setTimeout(() => {
        finish({ kind: 'timeout' });
        req.destroy();
      }, Math.max(0, deadline - Date.now()));
      req.on('socket', () => {
        if (req.reusedSocket) this.#reused += 1;
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // The address is for admins: only the code goes into the reason (it may reach clients).
        const code = typeof err.code === 'string' ? err.code : undefined;
        finish({ kind: 'error', reason: `store unreachable${code !== undefined ? ` (${code})` : ''}`, code, reused: req.reusedSocket });
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const cut = (): void => {
          finish({ kind: 'answer', status, body: Buffer.alloc(0), cut: true });
          req.destroy(); // the connection is not reused: the rest of the body is never read
        };
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxAnswer) {
          cut();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          size += chunk.length;
          if (size > maxAnswer) {
            cut();
            return;
          }
          if (keepBody) chunks.push(chunk);
        });
        res.on('end', () => finish({ kind: 'answer', status, body: Buffer.concat(chunks, keepBody ? size : 0), cut: false }));
        res.on('error', () => finish({ kind: 'error', reason: 'the store closed the connection mid-answer', reused: false }));
        res.on('close', () => finish({ kind: 'error', reason: 'the store closed the connection mid-answer', reused: false }));
      });
      req.end(body);
    });
  }
}
