import type { Logger } from '../../shared/log';
import { ProxyErrorCode } from '../errors';
import type { Command } from './commands';
import type { Dispatcher } from './dispatcher';
import { readBody, type BodyResult } from './http-body';
import { errorReply, outcomeReply, type HttpReply } from './http-replies';
import { toCommand, type HttpRequestParts } from './http-requests';
import { matchRoute, type RouteName } from './http-routes';
import { statusLine } from './http-status';
import type { FrontMetrics } from './metrics';
import { toWireError, type WireError } from './wire-error';

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
}

const WITH_BODY = new Set<RouteName>(['put', 'batchGet', 'incr', 'expire', 'invalidate']);
const EMPTY = Buffer.alloc(0);

/**
 * The HTTP/JSON front as a uWS handler for every path (`app.any('/*', front.handle)`):
 *
 *   headers (read at once: uWS frees the request on return) ─► matchRoute ─► readBody (limit)
 *     ─► toCommand (validate) ─► dispatcher.dispatch ─► outcomeReply / errorReply ─► one corked write
 *
 * The pure steps live in http-routes / http-requests / http-replies; this shell only moves bytes
 * and guards each response against aborts.
 */
export class HttpFront {
  readonly #options: HttpFrontOptions;
  readonly #errorOf: (err: Error) => WireError;

  constructor(options: HttpFrontOptions) {
    this.#options = options;
    this.#errorOf = (err) => toWireError(err, (e) => options.log.error({ err: e }, 'unexpected failure of one key in a batch'));
  }

  /** The uWS route handler. */
  readonly handle = (res: FrontResponse, req: FrontRequest): void => {
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
      aborted: false, answered: false, closeAfter,
    };
    res.onAborted(() => (ex.aborted = true));

    const match = matchRoute(method, path);
    if (!match.ok) return this.#refuse(ex, match.error, { allow: match.allow });
    Object.assign(parts, { route: match.route, namespace: match.namespace, key: match.key });
    if (!WITH_BODY.has(match.route)) return this.#serve(ex);
    readBody(res, this.#options.maxBodyBytes, declared, (result) => this.#onBody(ex, result));
  };

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
    this.#options.dispatcher.dispatch('http', command, (reply) => {
      this.#send(ex, reply.ok ? outcomeReply(reply.outcome, { acceptsBinary: ex.acceptsBinary, now: Date.now(), errorOf: this.#errorOf }) : errorReply(reply.error));
    });
  }

  /** Answers a request refused before it reached the data plane (counted by reason). */
  #refuse(ex: Exchange, error: WireError, extra: { allow?: string; close?: boolean } = {}): void {
    this.#options.metrics.refused('http', error.code);
    this.#send(ex, errorReply(error, extra));
  }

  #send(ex: Exchange, reply: HttpReply): void {
    if (ex.aborted || ex.answered) return;
    ex.answered = true;
    const close = reply.close === true || ex.closeAfter;
    const res = ex.res;
    res.cork(() => {
      res.writeStatus(statusLine(reply.status));
      for (const [name, value] of reply.headers) res.writeHeader(name, value);
      if (reply.status === 204 || ex.head) res.endWithoutBody(undefined, close);
      else res.end(reply.body, close);
    });
  }
}
