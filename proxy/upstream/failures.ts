import { ProxyError, ProxyErrorCode } from '../errors';

/**
 * The two transport failures of the upstream side. Only these count against a node's breaker;
 * every reply from a node (MISS, NOT_PRIMARY, VERSION_CONFLICT...) is a value, not a failure.
 */
export function timeoutError(nodeId: string, timeoutMs: number): ProxyError {
  return new ProxyError(ProxyErrorCode.TIMEOUT, `node ${nodeId} did not answer within ${timeoutMs} ms`, { nodeId });
}

/**
 * The node cannot be reached: not connected, connection lost, breaker open or too busy.
 * `unreachable` says the request was never sent because the node refuses connections (its last
 * connection attempts failed): the router may then wait for a failover instead of failing.
 */
export function nodeUnavailable(nodeId: string, why: string, unreachable = false): ProxyError {
  return new ProxyError(ProxyErrorCode.NODE_UNAVAILABLE, `node ${nodeId} is unavailable: ${why}`, unreachable ? { nodeId, unreachable } : { nodeId });
}

/** True for failures that say the node is unhealthy (the breaker's error filter keeps only these). */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof ProxyError && (err.code === ProxyErrorCode.TIMEOUT || err.code === ProxyErrorCode.NODE_UNAVAILABLE);
}
