import type { Etcd3, IKeyValue } from 'etcd3';
import type { PrimaryRecord } from '../../shared/topology/schema';

/**
 * The etcd transactions of a shard's election. Each is one round trip and decides on etcd's side,
 * so two nodes racing cannot both win:
 *
 *   campaign   If(createRevision(primary) == 0) Then(put(primary, me, lease)) Else(get(primary))
 *   resign     If(createRevision(primary) == epoch) Then(delete(primary) [, delete(resign)])
 *
 * The create revision of the primary key is the shard's epoch (the fencing token): every new
 * primary key gets a higher one.
 */
export type CampaignResult = { won: true; epoch: number } | { won: false; holder: IKeyValue | null };

/** Tries to create the primary key under `leaseId`; on a loss returns the key that holds the shard. */
export async function campaign(client: Etcd3, primaryKey: string, me: PrimaryRecord, leaseId: string): Promise<CampaignResult> {
  const res = await client
    .if(primaryKey, 'Create', '==', 0)
    .then(client.put(primaryKey).value(JSON.stringify(me)).lease(leaseId))
    .else(client.get(primaryKey))
    .commit();
  // The put is the transaction's only write, so the key's create revision is the revision it made.
  if (res.succeeded) return { won: true, epoch: Number(res.header.revision) };
  return { won: false, holder: res.responses[0]?.response_range?.kvs[0] ?? null };
}

/**
 * Deletes the primary key if it still belongs to `epoch` (and the resign request in the same
 * transaction when `resignKey` is given). Returns whether the key was ours and is now gone.
 */
export async function resign(client: Etcd3, primaryKey: string, epoch: number, resignKey?: string): Promise<boolean> {
  const ops = [client.delete().key(primaryKey)];
  if (resignKey !== undefined) ops.push(client.delete().key(resignKey));
  const res = await client.if(primaryKey, 'Create', '==', epoch).then(...ops).commit();
  return res.succeeded;
}

/** Deletes a key only if it is still the version written at `modRevision`. */
export async function deleteIfUnchanged(client: Etcd3, key: string, modRevision: string): Promise<boolean> {
  const res = await client.if(key, 'Mod', '==', modRevision).then(client.delete().key(key)).commit();
  return res.succeeded;
}
