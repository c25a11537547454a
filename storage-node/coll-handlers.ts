import { COLL_CMDS, type CollCmdDef, MAX_COLL_ARGS } from '../shared/collections';
import { badRequest } from '../shared/errors';
import { buildReply, COLL, COLL_WRITE, FRAME, WRITE_TARGET } from '../shared/ops';
import type { Handler, HandlerContext } from './handlers';
import { sameSlot, type WriteSteps } from './string-handlers';
import { bytesToString } from './store/value-codec';
import { keyArg, keysArg, ttlArg } from './validate';

/**
 * The hash and set commands (COLL, COLL_WRITE; `shared/collections.ts`): each runs as one step
 * on the node that holds the key, reads anywhere, writes at the primary. A write reaches the
 * replicas as its changes (REPL_COLL), or as the key's removal when it left the entry empty.
 */

/** What these handlers take from `handlers.ts`: the write steps, and a read's namespace after the ownership check. */
export interface CollSteps extends WriteSteps {
  read(m: unknown[], ctx: HandlerContext): string;
}

const ID = FRAME.id;

/** The command numbered `value`, which must be a read (COLL) or a write (COLL_WRITE) as `write` says. */
function cmdArg(value: unknown, write: boolean): CollCmdDef {
  const def = typeof value === 'number' ? COLL_CMDS.get(value) : undefined;
  if (def === undefined) throw badRequest('cmd must be a hash or set command number (shared/collections.ts)');
  if (def.write !== write) throw badRequest(`${def.name} is ${def.write ? 'a write: send it as COLL_WRITE' : 'a read: send it as COLL'}`);
  return def;
}

/** A command's arguments: a list of bytes, as latin1 strings (one char per byte). */
function argsArg(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_COLL_ARGS) throw badRequest(`args must be a list of at most ${MAX_COLL_ARGS} byte strings`);
  const out = new Array<string>(value.length);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (!(v instanceof Uint8Array)) throw badRequest('args must be a list of bytes');
    out[i] = bytesToString(v);
  }
  return out;
}

/** The handlers, by opcode, over the steps of `handlers.ts`. */
export function collHandlers({ write, changed, read }: CollSteps): Readonly<Record<number, Handler>> {
  return {
    [COLL.code]: (m, ctx, out) => {
      const ns = read(m, ctx);
      const key = keyArg(m[COLL.at.key]);
      const def = cmdArg(m[COLL.at.cmd], false);
      const args = argsArg(m[COLL.at.args]);
      const raw = m[COLL.at.keys];
      let others: string[] = [];
      if (def.multiKey) {
        // A key named twice adds nothing to SINTER, SUNION or SDIFF: each is read once.
        others = raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0) ? [] : [...new Set(keysArg(raw))];
        sameSlot(ns, key, others);
      } else if (raw !== undefined && raw !== null) throw badRequest(`${def.name} takes one key`);
      out.message(buildReply(COLL.ok, m[ID], ctx.store.collRead(ns, key, def, args, others)));
    },
    [COLL_WRITE.code]: (m, ctx, out) => {
      const ns = write(m, ctx);
      const key = keyArg(m[WRITE_TARGET.key]);
      const def = cmdArg(m[COLL_WRITE.at.cmd], true);
      const r = ctx.store.collWrite(ns, key, def, argsArg(m[COLL_WRITE.at.args]), ttlArg(m[COLL_WRITE.at.ttlMsOnCreate] ?? 0));
      if (r.deleted) changed(ctx, ns, key, true);
      else if (r.version !== 0) {
        // What changed reaches the replicas, not the whole entry (REPL_COLL).
        ctx.repl?.collChanged(ns, key, r.changes);
        ctx.writes?.written(ns, key);
      }
      out.message(buildReply(COLL_WRITE.ok, m[ID], r.reply, r.version));
    },
  };
}
