import { App, SSLApp, us_listen_socket_close, us_socket_local_port, type us_listen_socket } from 'uWebSockets.js';
import type { Logger } from '../../shared/log';
import type { SecureContextHolder, TlsMaterial } from '../../shared/tls';
import type { Dispatcher } from './dispatcher';
import { HttpFront } from './http';
import { startNodeHttpFront } from './http-node';
import type { FrontMetrics } from './metrics';
import { WsFront } from './ws';
import type { RegionService } from '../region/service';
import { uwsTlsOptions } from './tls';

export interface FrontOptions {
  dispatcher: Dispatcher;
  metrics: FrontMetrics;
  log: Logger;
  maxBodyBytes: number;
  /** Unread reply bytes per WebSocket before it is closed. */
  wsMaxBufferedBytes: number;
  /** Requests in flight per WebSocket. */
  wsMaxInFlight: number;
  /** Open WebSockets on the client port (`--max-connections`); default 10,000. */
  wsMaxConnections?: number;
  /** Exact origins (`https://app.example.com`) browsers may call from (`--allowed-origins`); absent: no Origin check. */
  allowedOrigins?: readonly string[];
  /** Also serve the HTTP/JSON API on node:http at this port, for pipelining clients (0: any free port). */
  pipeliningPort?: number;
  /** TLS on the client port (uWS SSLApp) and the pipelining port (node https); absent: plain. */
  tls?: TlsMaterial;
  /** Regions: `/v1/region/*` and home reads on the HTTP API (proxy/region/service.ts). */
  region?: RegionService;
}

/**
 * The listening client port. `close(graceMs)` stops accepting; requests already received are
 * answered for up to `graceMs` (later ones get 503 / UNAVAILABLE, HTTP answers carry
 * `Connection: close`, each WebSocket is ended with 1001 once its replies are sent); then every
 * connection left is dropped.
 */
export interface RunningFront {
  port: number;
  /** The node:http port for pipelining clients, when one was asked for. */
  pipeliningPort?: number;
  /** Listeners whose certificate can be swapped (the pipelining port over TLS); uWS cannot. */
  reloadable: SecureContextHolder[];
  close(graceMs?: number): Promise<void>;
}

/** Resolves when `work` does or after `ms`, whichever comes first. */
export async function within(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** One turn of the event loop: input that had arrived when shutdown began is read before reading stops. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** uWS 20.30 has `app.close()` (closes every socket of the app); its type declarations lag behind. */
type ClosableApp = { close(): void };

/** Open WebSockets a front keeps unless told otherwise (`--max-connections`). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** How long open WebSockets get to receive their close frame before every socket is dropped. */
const CLOSE_GRACE_MS = 100;

/**
 * The client-facing port: one uWS app serving the HTTP/JSON API on every path and the WebSocket
 * API on `/v1/ws` (uWS matches the static WebSocket route before the wildcard; a plain GET of
 * `/v1/ws` falls through to the HTTP router and gets 404). With `pipeliningPort`, the same HTTP
 * front is also served on node:http there (http-node.ts), for clients that pipeline. Both HTTP
 * listeners and the WebSocket upgrade apply the same edge checks (http-guards.ts): one Origin
 * allowlist, JSON media types on bodies, and a cap on open WebSockets.
 */
export function startFront(options: FrontOptions, host: string, port: number): Promise<RunningFront> {
  const allowedOrigins = options.allowedOrigins === undefined ? undefined : new Set(options.allowedOrigins);
  const ws = new WsFront({
    dispatcher: options.dispatcher, metrics: options.metrics, log: options.log.child({ component: 'proxy:ws' }),
    maxMessageBytes: options.maxBodyBytes, maxBufferedBytes: options.wsMaxBufferedBytes, maxInFlight: options.wsMaxInFlight,
    maxConnections: options.wsMaxConnections ?? DEFAULT_MAX_CONNECTIONS, allowedOrigins,
  });
  const http = new HttpFront({
    dispatcher: options.dispatcher, metrics: options.metrics, log: options.log.child({ component: 'proxy:http' }), maxBodyBytes: options.maxBodyBytes,
    allowedOrigins, region: options.region,
  });
  const app = (options.tls ? SSLApp(uwsTlsOptions(options.tls.files)) : App()).ws('/v1/ws', ws.behavior).any('/*', http.handle);
  const main = new Promise<RunningFront>((resolve, reject) => {
    app.listen(host, port, (socket: us_listen_socket | false) => {
      if (!socket) return reject(new Error(`cannot listen on ${host}:${port} (in use, or not an address of this machine)`));
      let closing: Promise<void> | undefined;
      resolve({
        port: us_socket_local_port(socket as never),
        reloadable: [],
        close: (graceMs = 0) => {
          closing ??= (async () => {
            us_listen_socket_close(socket);
            await nextTurn();
            await within(graceMs, Promise.all([http.drain(), ws.drain()]));
            if (ws.closeAll() > 0) await new Promise((r) => setTimeout(r, CLOSE_GRACE_MS));
            (app as unknown as ClosableApp).close();
          })();
          return closing;
        },
      });
    });
  });
  if (options.pipeliningPort === undefined) return main;
  return main.then(async (front) => {
    let pipelining: RunningFront;
    try {
      pipelining = await startNodeHttpFront(http, host, options.pipeliningPort!, options.log.child({ component: 'proxy:http-pipelining' }), options.tls);
    } catch (err) {
      await front.close();
      throw err;
    }
    return { port: front.port, pipeliningPort: pipelining.port, reloadable: pipelining.reloadable, close: (graceMs?: number) => Promise.all([front.close(graceMs), pipelining.close(graceMs)]).then(() => undefined) };
  });
}
