import pino from 'pino';
import { Registry } from 'prom-client';
import { Dispatcher } from '../../proxy/front/dispatcher';
import { FrontMetrics } from '../../proxy/front/metrics';
import type { RespLimits } from '../../proxy/front/resp/context';
import { RespServer } from '../../proxy/front/resp/server';
import { FakeBackend } from '../unit/proxy-front-fake-backend';

/** A RespServer in this process over a fake data plane, listening on a free loopback port. */
export interface FakeRespServer {
  backend: FakeBackend;
  registry: Registry;
  server: RespServer;
}

/** Starts a RespServer with `limits` in front of a FakeBackend (close it with `server.close()`). */
export async function startFakeRespServer(limits: RespLimits): Promise<FakeRespServer> {
  const log = pino({ level: 'silent' });
  const backend = new FakeBackend();
  const registry = new Registry();
  const metrics = new FrontMetrics(registry);
  const dispatcher = new Dispatcher({ backend, metrics, log });
  const server = new RespServer({ dispatcher, backend, metrics, log, namespace: 'default', limits });
  await server.listen('127.0.0.1', 0);
  return { backend, registry, server };
}
