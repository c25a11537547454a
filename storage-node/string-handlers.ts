import { badRequest } from '../shared/errors';
import { ExpireCond, type ExpireCondition, Status } from '../shared/protocol';
import { APPEND, buildReply, COPY, EXPIREAT, FRAME, INCRBYFLOAT, MSETNX, RENAME, SETGET, SETRANGE, WRITE_TARGET } from '../shared/ops';
import { slotOf } from '../shared/slot';
import type { Handler, HandlerContext } from './handlers';
import { condArg, keyArg, keysArg, ttlArg, valueArg } from './validate';

/**
 * Redis's string read-modify-writes (APPEND, SETRANGE, SETGET, INCRBYFLOAT, EXPIREAT, RENAME,
 * COPY, MSETNX; layouts in `shared/protocol.ts`): each runs as one step on the primary, where a
 * read then a write from the proxy would race with other clients. Every change reaches the
 * replicas as the entry's new state (or a delete), as INCR's does, through `changed`.
 */

/** What these handlers take from `handlers.ts`, passed in so the two modules do not import each other. */
export interface WriteSteps {
  /** A write's namespace, after the fencing and ownership checks of `[id, op, epoch, ns, key]`. */
  write(m: unknown[], ctx: HandlerContext): string;
  /** After a mutation of one key: the replication log and the invalidation subscribers hear of it. */
  changed(ctx: HandlerContext, ns: string, key: string, deleted: boolean): void;
}

const ID = FRAME.id;
const KEY = WRITE_TARGET.key;

/** Refuses a key outside `key`'s slot: two-key ops run on one node only when both keys share its slot. */
export function sameSlot(ns: string, key: string, others: readonly string[]): void {
  const slot = slotOf(ns, key);
  for (let i = 0; i < others.length; i++) if (slotOf(ns, others[i]) !== slot) throw badRequest("keys in request don't hash to the same slot");
}

function expireCondArg(value: unknown): ExpireCondition {
  const all = ExpireCond.NX | ExpireCond.XX | ExpireCond.GT | ExpireCond.LT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (value & ~all) !== 0) throw badRequest(`cond must be a combination of the bits ${all}`);
  return value;
}

function valuesArg(value: unknown): Uint8Array[] {
  if (!Array.isArray(value)) throw badRequest('values must be a list');
  return value.map(valueArg);
}

const flag = (yes: boolean): 0 | 1 => (yes ? 1 : 0);

/** The handlers, by opcode, over the write steps of `handlers.ts`. */
export function stringHandlers({ write, changed }: WriteSteps): Readonly<Record<number, Handler>> {
  /** A two-key write's namespace, source key and the key at `dstAt`, refused unless they share a slot. */
  const twoKeys = (m: unknown[], ctx: HandlerContext, dstAt: number): { ns: string; key: string; dst: string } => {
    const ns = write(m, ctx);
    const key = keyArg(m[KEY]);
    const dst = keyArg(m[dstAt]);
    sameSlot(ns, key, [dst]);
    return { ns, key, dst };
  };
  return {
    [APPEND.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[KEY]);
      const r = ctx.store.append(ns, key, valueArg(m[APPEND.at.value]), ttlArg(m[APPEND.at.ttlMsOnCreate] ?? 0));
      changed(ctx, ns, key, false);
      out.message(buildReply(APPEND.ok, m[ID], r.length, r.version));
    },
    [SETRANGE.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[KEY]);
      const r = ctx.store.setRange(ns, key, m[SETRANGE.at.offset] as number, valueArg(m[SETRANGE.at.value]), ttlArg(m[SETRANGE.at.ttlMsOnCreate] ?? 0));
      if (r.version !== 0) changed(ctx, ns, key, false); // an empty value writes nothing
      out.message(buildReply(SETRANGE.ok, m[ID], r.length, r.version));
    },
    [SETGET.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[KEY]);
      const r = ctx.store.setGet(ns, key, valueArg(m[SETGET.at.value]), ttlArg(m[SETGET.at.ttlMs]), condArg(m[SETGET.at.cond]));
      if (r.stored) changed(ctx, ns, key, false);
      out.message(buildReply(SETGET.ok, m[ID], r.old === undefined ? null : Buffer.from(r.old, 'latin1'), flag(r.stored)));
    },
    [INCRBYFLOAT.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[KEY]);
      const r = ctx.store.incrByFloat(ns, key, m[INCRBYFLOAT.at.delta] as string, ttlArg(m[INCRBYFLOAT.at.ttlMsOnCreate] ?? 0));
      changed(ctx, ns, key, false);
      out.message(buildReply(INCRBYFLOAT.ok, m[ID], r.value, r.version));
    },
    [EXPIREAT.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[KEY]);
      const updated = ctx.store.expireAt(ns, key, m[EXPIREAT.at.at] as number, expireCondArg(m[EXPIREAT.at.cond]));
      if (updated) changed(ctx, ns, key, false); // a time already past removed it: the log sees it gone
      out.statusInt(m[ID] as number, Status.OK, flag(updated)); // EXPIREAT.ok
    },
    [RENAME.code]: (m, ctx, out) => {
      const { ns, key, dst } = twoKeys(m, ctx, RENAME.at.dst);
      const r = ctx.store.rename(ns, key, dst, m[RENAME.at.nx] === 1);
      if (r < 0) return out.status(m[ID] as number, Status.MISS); // RENAME.replies.MISS
      if (r === 1 && key !== dst) {
        // In this order on the replicas too: the new entry, then the old one's removal.
        changed(ctx, ns, dst, false);
        changed(ctx, ns, key, true);
      }
      out.statusInt(m[ID] as number, Status.OK, r); // RENAME.ok
    },
    [COPY.code]: (m, ctx, out) => {
      const { ns, key, dst } = twoKeys(m, ctx, COPY.at.dst);
      const copied = ctx.store.copy(ns, key, dst, m[COPY.at.replace] === 1);
      if (copied) changed(ctx, ns, dst, false);
      out.statusInt(m[ID] as number, Status.OK, flag(copied)); // COPY.ok
    },
    [MSETNX.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[KEY]);
      const keys = keysArg(m[MSETNX.at.keys]);
      sameSlot(ns, key, keys);
      const stored = ctx.store.msetnx(ns, keys, valuesArg(m[MSETNX.at.values]), ttlArg(m[MSETNX.at.ttlMs] ?? 0));
      if (stored) for (let i = 0; i < keys.length; i++) changed(ctx, ns, keys[i], false);
      out.statusInt(m[ID] as number, Status.OK, flag(stored)); // MSETNX.ok
    },
  };
}
