/** The loopback TCP relay tests cut links with (`scripts/tcp-relay.ts`, shared with the chaos harness). */
export { TcpRelay } from '../../scripts/tcp-relay';
