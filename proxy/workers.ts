import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import type { Logger } from '../shared/log';
import type { ProxyConfig } from './config';

/**
 * `--workers N`: N proxy processes serving the same ports, for machines where one proxy process
 * is CPU-bound. The primary only forks, watches and stops the workers; each worker is a whole
 * proxy (its own topology watch, links, breakers and metrics).
 *
 *   primary ──fork──► worker 1..N ── RESP, admin, pipelining: node:cluster shares the listening socket
 *      │                          └─ HTTP/WS (uWS): each worker binds the same port; Linux
 *      │                             spreads connections by SO_REUSEPORT (uWS sets it)
 *      └── ready line once every worker is ready; SIGTERM/SIGINT: stop the workers, then exit
 *
 * uWS does not go through node:cluster, so a client port of 0 is resolved to a free port here
 * and handed to every worker. The admin port answers from whichever worker gets the
 * connection: /metrics is that worker's.
 */

/** What a worker tells the primary once it serves. */
export interface WorkerReady {
  kind: 'worker-ready';
  httpPort: number;
  respPort: number;
  adminPort: number;
  pipeliningPort?: number;
}

/** How long the workers get to stop on SIGTERM, beyond `--shutdown-grace-ms`, before they are killed. */
const STOP_GRACE_MS = 10_000;

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** In a worker: tells the primary this worker serves. */
export function reportReady(ready: Omit<WorkerReady, 'kind'>): void {
  process.send?.({ kind: 'worker-ready', ...ready } satisfies WorkerReady);
}

/** True in a process forked by `runPrimary`. */
export const isWorker = (): boolean => cluster.isWorker;

/** Runs the primary: forks `config.workers` proxies and keeps that many running until told to stop. */
export async function runPrimary(config: ProxyConfig, argv: readonly string[], log: Logger): Promise<void> {
  const httpPort = config.httpPort === 0 ? await freePort(config.host) : config.httpPort;
  cluster.setupPrimary({ args: [...argv, '--http-port', String(httpPort)] });
  const ready = new Map<number, WorkerReady>();
  let stopping = false;

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: WorkerReady) => {
      if (message?.kind !== 'worker-ready') return;
      ready.set(worker.id, message);
      if (ready.size === config.workers) announce();
    });
    return worker;
  };
  let announced = false;
  const announce = (): void => {
    if (announced) return;
    announced = true;
    const first = [...ready.values()][0];
    const pids = Object.values(cluster.workers ?? {}).map((w) => w?.process.pid);
    const { httpPort: http, respPort, adminPort, pipeliningPort } = first;
    log.info({ event: 'ready', host: config.host, httpPort: http, respPort, adminPort, pipeliningPort, workers: config.workers, pids, cluster: config.cluster, etcd: config.etcd }, 'proxy ready');
  };

  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker.id);
    if (stopping) return;
    if (!announced) {
      log.error({ event: 'worker', pid: worker.process.pid, code, signal }, 'a proxy worker exited before it was ready; stopping');
      stop(1);
      return;
    }
    log.error({ event: 'worker', pid: worker.process.pid, code, signal }, 'a proxy worker exited; starting another');
    fork();
  });

  const stop = (exitCode: number): void => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const timer = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), config.shutdownGraceMs + STOP_GRACE_MS);
    let left = workers.length;
    const done = (): void => {
      if (--left > 0) return;
      clearTimeout(timer);
      log.info('stopped');
      process.exit(exitCode);
    };
    if (left === 0) process.exit(exitCode);
    for (const w of workers) {
      w.once('exit', done);
      w.process.kill('SIGTERM');
    }
  };
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));
  // SIGHUP reloads the client-port certificate: each worker serves its own listeners, so pass it on.
  if (config.tlsCert !== undefined) process.on('SIGHUP', () => Object.values(cluster.workers ?? {}).forEach((w) => w?.process.kill('SIGHUP')));
  for (let i = 0; i < config.workers; i++) fork();
}
