import type { Logger } from '../../shared/log';
import { resolveCredentials } from './auth';
import { ProxyError, ProxyErrorCode } from '../errors';
import type { RegionService } from '../region/service';
import { READ_HOME_HEADER } from '../region/service';
import { REGION_PREFIX, matchRegionRoute, readHomeOf } from '../region/routes';
import type { Command } from './commands';
import type { Dispatcher, Reply } from './dispatcher';
import { readBody, type BodyResult } from './http-body';
import { BODY_ROUTES, mediaTypeRefusal, originRefusal } from './http-guards';
import { errorReply, outcomeReply, type HttpReply } from './http-replies';
import { toCommand, type HttpRequestParts } from './http-requests';
import { matchRoute } from './http-routes';
import { statusLine } from './http-status';
import type { FrontMetrics } from './metrics';
import { toWireError, type EdgeError, type WireError } from './wire-error';

/**
 * What the front reads of a request: the part of uWS's HttpRequest it uses, which the node:http
 * listener (http-node.ts) supplies too. Method lowercase; URL without its query; a header by its
 * lowercase name, '' when absent.
 */
export interface FrontRequest {
  getMethod(): string;
  getUrl(): string;
  getHeader(lowerCaseName: string): string;
  getQuery(): string | undefined;
}

/** What the front does with a response: the part of uWS's HttpResponse it uses. */
export interface FrontResponse {
  onAborted(handler: () => void): unknown;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): unknown;
  cork(cb: () => void): unknown;
  writeStatus(status: string): unknown;
  writeHeader(key: string, value: string): unknown;
  end(body?: string | Uint8Array, closeConnection?: boolean): unknown;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): unknown;
  /** True when more requests of this connection wait behind this one (a pipelining listener); absent: never. */
  moreQueued?(): boolean;
}

export interface HttpFrontOptions {
  dispatcher: Dispatcher;
  metrics: FrontMetrics;
  log: Logger;
  /**
   * Largest request body accepted; larger ones get 413. A declared body up to LINGER_MAX_BYTES is
   * read and discarded after the answer (the connection stays open); beyond that, and for a
   * chunked body, the connection is closed.
   */
  maxBodyBytes: number;
  /**
   * Origins a browser request may come from (`--allowed-origins`); a request whose Origin header
   * names another gets 403 FORBIDDEN_ORIGIN. Absent: no check. Requests without Origin pass.
   */
  allowedOrigins?: ReadonlySet<string>;
  /**
   * Regions (proxy/region/): the `/v1/region/*` routes (region-secret auth, not a user's) and GETs
   * with `x-shardcache-read-home`. Absent: those paths are NOT_FOUND and the header is ignored.
   */
  region?: RegionService;
}

/**
 * Largest declared body the server reads and discards after refusing it (a lingering answer):
 * a client still writing its body then reads the 413 instead of a reset, and the connection stays
 * usable. uWS discards the bytes of a body nobody reads, so this costs reading time, not memory.
 */
export const LINGER_MAX_BYTES = 64 * 1024 * 1024;

/** One request in progress; its response is written at most once and never after an abort. */
interface Exchange {
  res: FrontResponse;
  parts: HttpRequestParts;
  acceptsBinary: boolean;
  /** A HEAD request: the answer carries no body. */
  head: boolean;
  aborted: boolean;
  answered: boolean;
  /** The client sent a body that will not be read whole: close the connection after answering. */
  closeAfter: boolean;
  /** The Authorization header ('' when absent or auth is off). */
  authorization: string;
  /** Answered or aborted: no longer counted in flight. */
  settled: boolean;
  /** A GET's `x-shardcache-read-home` (or `?readHome=`): the region to read at (regions only). */
  readHome?: string;
  /** The Accept header, kept for a home read forwarded to a peer region. */
  accept?: string;
}

/** The answer to a request that arrives once the proxy is shutting down. */
export const SHUTTING_DOWN: EdgeError = { code: ProxyErrorCode.UNAVAILABLE, message: 'this proxy is shutting down; send the request to another proxy' };

const EMPTY = Buffer.alloc(0);

/**
 * The HTTP/JSON front as a uWS handler for every path (`app.any('/*', front.handle)`):
 *
 *   headers (read at once: uWS frees the request on return) ─► Origin (403) ─► matchRoute
 *     ─► Content-Type (415) ─► readBody (limit) ─► toCommand (validate)
 *     ─► bearer token (401; cached after its first check) ─► dispatcher.dispatch (grants: 401/403)
 *     ─► outcomeReply / errorReply ─► one corked write
 *
 * The pure steps live in http-guards / http-routes / http-requests / http-replies; this shell only
 * moves bytes and guards each response against aborts. It counts the requests in flight, so a
 * shutdown (`drain`) answers them before the connections close. The node:http listener (http-node.ts)
 * calls the same `handle`, so both listeners refuse the same requests.
 */
export class HttpFront {
  readonly #options: HttpFrontOptions;
  readonly #errorOf: (err: Error) => WireError;
  /** Requests received and neither answered nor aborted. */
  #inFlight = 0;
  /** Set by `drain`: resolved once nothing is in flight. */
  #drained: (() => void) | undefined;
  #draining = false;

  constructor(options: HttpFrontOptions) {
    this.#options = options;
    this.#errorOf = (err) => toWireError(err, (e) => options.log.error({ err: e }, 'unexpected failure of one key in a batch'));
  }

  /** The uWS route handler: a request arriving once `drain` began is refused (see `serve`). */
  readonly handle = (res: FrontResponse, req: FrontRequest): void => this.serve(res, req, this.#draining);

  /** True once `drain` began. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Serves one request; `late`: it arrived after `drain` began, and is answered 503 UNAVAILABLE
   * with `Connection: close` (the pipelining listener decides it at arrival, not at its turn).
   */
  serve(res: FrontResponse, req: FrontRequest, late: boolean): void {
    const method = req.getMethod();
    const path = req.getUrl();
    const declared = req.getHeader('content-length');
    // A body of known length up to LINGER_MAX_BYTES is drained by uWS after the answer; any other
    // body the front does not read to its end (chunked, or longer) ends the connection.
    const lingers = declared !== '' && Number(declared) <= LINGER_MAX_BYTES;
    const closeAfter = (declared !== '' && declared !== '0' && !lingers) || (declared === '' && req.getHeader('transfer-encoding') !== '');
    const parts: HttpRequestParts = { route: 'get', query: req.getQuery() ?? '', contentType: req.getHeader('content-type').toLowerCase(), body: EMPTY };
    const ex: Exchange = {
      res, parts, acceptsBinary: req.getHeader('accept').includes('application/octet-stream'), head: method === 'head',
      aborted: false, answered: false, closeAfter, settled: false,
      authorization: this.#options.dispatcher.authRequired ? req.getHeader('authorization') : '',
    };
    this.#inFlight++;
    res.onAborted(() => {
      ex.aborted = true;
      this.#settle(ex);
    });
    if (late) return this.#refuse(ex, SHUTTING_DOWN, { close: true });

    const foreign = originRefusal(req.getHeader('origin'), this.#options.allowedOrigins);
    if (foreign) return this.#refuse(ex, foreign);
    const region = this.#options.region;
    if (region !== undefined && path.startsWith(REGION_PREFIX)) return this.#serveRegion(ex, region, req, method, path, declared);
    const match = matchRoute(method, path);
    if (!match.ok) return this.#refuse(ex, match.error, { allow: match.allow });
    Object.assign(parts, { route: match.route, namespace: match.namespace, key: match.key });
    if (region !== undefined && match.route === 'get') {
      ex.readHome = readHomeOf(req.getHeader(READ_HOME_HEADER), parts.query);
      if (ex.readHome !== undefined) ex.accept = req.getHeader('accept');
    }
    if (!BODY_ROUTES.has(match.route)) return this.#serve(ex);
    const unsupported = mediaTypeRefusal(match.route, parts.contentType);
    if (unsupported) return this.#refuse(ex, unsupported);
    readBody(res, this.#options.maxBodyBytes, declared, (result) => this.#onBody(ex, result));
  }

  #onBody(ex: Exchange, result: BodyResult): void {
    if (!result.ok) {
      const message = `request body exceeds the limit of ${this.#options.maxBodyBytes} bytes (--max-body-bytes)`;
      return this.#refuse(ex, { code: ProxyErrorCode.TOO_LARGE, message }, { close: ex.closeAfter });
    }
    ex.closeAfter = false;
    ex.parts.body = result.body;
    this.#serve(ex);
  }

  #serve(ex: Exchange): void {
    let command: Command;
    try {
      command = toCommand(ex.parts);
    } catch (err) {
      return this.#refuse(ex, toWireError(err, (e) => this.#options.log.error({ err: e }, 'unexpected failure parsing a request')));
    }
    const dispatcher = this.#options.dispatcher;
    const answer = (reply: Reply): void => {
      this.#send(ex, reply.ok ? outcomeReply(reply.outcome, { acceptsBinary: ex.acceptsBinary, now: Date.now(), errorOf: this.#errorOf }) : errorReply(reply.error));
    };
    if (ex.readHome !== undefined && command.op === 'get' && !this.#options.region!.isLocal(ex.readHome)) return this.#homeRead(ex, command, answer);
    // No Authorization header (or auth off): nothing to resolve, and no closure for it.
    if (ex.authorization === '') return dispatcher.dispatch('http', command, answer);
    resolveCredentials(dispatcher.auth, ex.authorization, (who) => {
      if (!who.ok) return this.#refuse(ex, who.error);
      dispatcher.dispatch('http', command, answer, who.principal);
    });
  }

  /**
   * A region route (`/v1/region/*`, proxy/region/): the region secret instead of a user's
   * credentials; a batch body of at most MAX_BATCH_BYTES (JSON).
   */
  #serveRegion(ex: Exchange, region: RegionService, req: FrontRequest, method: string, path: string, declared: string): void {
    const match = matchRegionRoute(method, path);
    if (!match.ok) return this.#refuse(ex, match.error, { allow: match.allow });
    const refusal = region.authRefusal(req.getHeader('authorization'));
    if (refusal) return this.#refuse(ex, refusal);
    if (match.route === 'read') {
      void region.read(match.namespace, match.key, ex.acceptsBinary).then((reply) => this.#send(ex, reply));
      return;
    }
    const unsupported = mediaTypeRefusal('invalidate', ex.parts.contentType);
    if (unsupported) return this.#refuse(ex, unsupported);
    readBody(ex.res, region.maxBodyBytes, declared, (result) => {
      if (!result.ok) return this.#refuse(ex, { code: ProxyErrorCode.TOO_LARGE, message: `an invalidation batch body is at most ${region.maxBodyBytes} bytes` }, { close: ex.closeAfter });
      ex.closeAfter = false;
      void region.ingest(result.body).then((reply) => this.#send(ex, reply));
    });
  }

  /**
   * A GET with `x-shardcache-read-home`: the client's credentials and grant on the namespace are
   * checked here, as for a plain GET; then the region answers (a peer's answer is passed on), or,
   * naming this proxy's own region, the GET is served here as usual.
   */
  #homeRead(ex: Exchange, command: Extract<Command, { op: 'get' }>, answer: (reply: Reply) => void): void {
    const dispatcher = this.#options.dispatcher;
    const region = this.#options.region!;
    resolveCredentials(dispatcher.auth, ex.authorization, (who) => {
      if (!who.ok) return this.#refuse(ex, who.error);
      try {
        if (!dispatcher.ready) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, 'no topology yet: the proxy has not loaded an initialised cluster from etcd');
        dispatcher.authorize(who.principal, command.ns, 'read');
        dispatcher.admit(command.ns);
      } catch (err) {
        return this.#refuse(ex, toWireError(err, (e) => this.#options.log.error({ err: e }, 'unexpected failure checking a home read')));
      }
      void region.homeRead(ex.readHome!, command.ns, command.key, ex.accept ?? '').then((reply) => {
        if (reply !== undefined) return this.#send(ex, reply);
        dispatcher.dispatch('http', command, answer, who.principal);
      });
    });
  }

  /** Answers a request refused before it reached the data plane (counted by reason). */
  #refuse(ex: Exchange, error: EdgeError, extra: { allow?: string; close?: boolean } = {}): void {
    this.#options.metrics.refused('http', error.code);
    this.#send(ex, errorReply(error, extra));
  }

  #send(ex: Exchange, reply: HttpReply): void {
    if (ex.aborted || ex.answered) return;
    ex.answered = true;
    // Shutting down: the last answer of a keep-alive connection says `Connection: close`.
    const closing = this.#draining && ex.res.moreQueued?.() !== true;
    writeReply(ex.res, reply, { head: ex.head, close: reply.close === true || ex.closeAfter || closing });
    this.#settle(ex);
  }

  #settle(ex: Exchange): void {
    if (ex.settled) return;
    ex.settled = true;
    if (--this.#inFlight === 0) this.#drained?.();
  }

  /**
   * Proxy shutdown: from now on a new request is answered 503 UNAVAILABLE ("shutting down") and
   * every answer carries `Connection: close`; resolves once the requests in flight are answered.
   */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }
}

/** Writes one decided reply under one cork: status, headers, then the body (none for 204 or HEAD). */
export function writeReply(res: Pick<FrontResponse, 'cork' | 'writeStatus' | 'writeHeader' | 'end' | 'endWithoutBody'>, reply: HttpReply, o: { head?: boolean; close?: boolean } = {}): void {
  res.cork(() => {
    res.writeStatus(statusLine(reply.status));
    for (const [name, value] of reply.headers) res.writeHeader(name, value);
    if (reply.status === 204 || o.head === true) res.endWithoutBody(undefined, o.close === true);
    else res.end(reply.body, o.close === true);
  });
}
