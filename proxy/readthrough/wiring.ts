import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/log';
import type { GetResult } from '../backend';
import type { SingleFlight } from '../routing/coalesce';
import { getFlightKey } from '../routing/coalesce';
import { getMessage, parseGet } from '../routing/messages';
import type { Router } from '../routing/router';
import { fillMessage, leaseMessage, parseFill, parseLease, parseRelease, releaseMessage } from './fill-messages';
import { ReadThroughMetrics } from './metrics';
import { httpOrigin, type OriginLoader } from './origin';
import { ReadThrough, type FillStore } from './read-through';

/** What the data plane hands read-through: its router, its GET flights and its registry. */
export interface ReadThroughWiring {
  router: Router;
  flights: SingleFlight<GetResult>;
  registry: Registry;
  origin?: OriginLoader;
  random: () => number;
  log: Logger;
}

/**
 * The read-through core bound to the data plane: reads, leases and fills go to the shard's
 * primary through the router (leases carry the epoch like writes; NOT_PRIMARY retries at the new
 * primary, where a waiter simply takes or waits for a fresh lease).
 */
export function createReadThrough(w: ReadThroughWiring): ReadThrough {
  // Each request names its slot, so a MOVED reply reroutes it to the slot's new shard.
  const to = <T>(ns: string, key: string, intent: 'primary' | 'write', build: (epoch: number) => unknown[], parse: (reply: unknown[], nodeId: string) => T): Promise<T> => {
    const { slot, shardId } = w.router.locate(ns, key);
    return w.router.send(shardId, intent, build, parse, slot);
  };
  const store: FillStore = {
    read: (ns, key) => to(ns, key, 'primary', () => getMessage(ns, key), parseGet),
    lease: (ns, key, ttl, seen) => to(ns, key, 'write', (epoch) => leaseMessage(epoch, ns, key, ttl, seen), parseLease),
    fill: (ns, key, token, value, ttl, flags) => to(ns, key, 'write', (epoch) => fillMessage(epoch, ns, key, token, value, ttl, flags), parseFill),
    release: (ns, key, token) => to(ns, key, 'write', (epoch) => releaseMessage(epoch, ns, key, token), parseRelease),
  };
  const log = w.log.child({ component: 'proxy:read-through' });
  return new ReadThrough({
    store, origin: w.origin ?? httpOrigin, flights: w.flights, flightKey: (ns, key) => getFlightKey('primary', ns, key),
    metrics: new ReadThroughMetrics(w.registry), random: w.random,
    onRefreshError: (ns, key, err) => log.warn({ ns, key, err: (err as Error).message }, 'background refresh failed'),
  });
}
