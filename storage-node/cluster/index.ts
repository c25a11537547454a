/**
 * Cluster mode of the storage node: lease, membership, election, fencing. Import from here only.
 * `ClusterRole` and `LeaseProof` are pure; `ClusterMember` is the etcd shell around them.
 */
export { ClusterMember, DEFAULT_LEASE_TTL_SECONDS, retryDelayMs, type MemberOptions } from './member';
export { ClusterRole, NOT_JOINED, SHUTTING_DOWN, type PrimaryView, type RoleChange, type RoleName } from './role';
export { LeaseProof } from './lease-proof';
