/**
 * Cluster mode of the storage node: lease, membership, election, fencing. Import from here only.
 * `ClusterRole` and `LeaseProof` are pure; `ClusterMember` is the etcd shell around them.
 */
import * as member from './member';
import * as role from './role';
import * as leaseProof from './lease-proof';

// Values are re-exported as constants, not with `export { } from`: TypeScript's CommonJS output
// makes such a re-export a getter, which turns this module's exports into a dictionary whose
// every read on the request path is a generic property load and a getter call (test/unit/exports-shape.test.ts).
export const ClusterMember = member.ClusterMember;
export type ClusterMember = member.ClusterMember;
export const DEFAULT_LEASE_TTL_SECONDS = member.DEFAULT_LEASE_TTL_SECONDS;
export const retryDelayMs = member.retryDelayMs;
export type { MemberOptions } from './member';
export const ClusterRole = role.ClusterRole;
export type ClusterRole = role.ClusterRole;
export const NOT_JOINED = role.NOT_JOINED;
export const SHUTTING_DOWN = role.SHUTTING_DOWN;
export type { PrimaryView, RoleChange, RoleName } from './role';
export const LeaseProof = leaseProof.LeaseProof;
export type LeaseProof = leaseProof.LeaseProof;
