import type net from 'node:net';
import { encodeFrame } from '../shared/frame';
import { badRequest } from '../shared/errors';
import { MAX_SUBSCRIPTIONS, Status } from '../shared/protocol';
import { buildPush, FRAME, SUBSCRIBE_INVALIDATIONS, UNSUBSCRIBE_INVALIDATIONS } from '../shared/ops';
import type { Logger } from '../shared/log';
import type { ReplyWriter } from './reply-writer';
import { keyArg, namespaceArg } from './validate';

/** Unsent push bytes a subscriber may leave unread before it is disconnected (it resubscribes). */
const MAX_SUBSCRIBER_BACKLOG = 1024 * 1024;

/** One subscription connection and the keys (`ns + "\n" + key`) it asked for. */
interface Subscriber {
  socket: net.Socket;
  keys: Set<string>;
}

/**
 * Invalidation pushes for keys proxies near-cache (ops SUBSCRIBE_INVALIDATIONS /
 * UNSUBSCRIBE_INVALIDATIONS, push INVALIDATION; see shared/protocol.ts).
 *
 *   subscribe(socket, ns, keys) ─► byKey: id → subscribers      socket 'close' ─► drop(socket)
 *   write handler ─► written(ns, key): one Map.size check when nothing is subscribed, else one
 *                    lookup, then a push frame to each subscriber of the key
 *
 * guards: the subscriptions of every connection.
 */
export class InvalidationHub {
  readonly #byKey = new Map<string, Set<Subscriber>>();
  readonly #bySocket = new Map<net.Socket, Subscriber>();
  readonly #log: Logger;
  pushes = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Subscriptions held, over every connection. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Handles op 45 or 46 from `socket`; throws OpError (BAD_REQUEST) on bad arguments. */
  handle(socket: net.Socket, m: unknown[], out: ReplyWriter): void {
    // SUBSCRIBE_INVALIDATIONS and UNSUBSCRIBE_INVALIDATIONS share their layout `[id, op, ns, keys]`.
    const ns = namespaceArg(m[SUBSCRIBE_INVALIDATIONS.at.ns]);
    const keys = m[SUBSCRIBE_INVALIDATIONS.at.keys];
    let sub = this.#bySocket.get(socket);
    if (m[FRAME.op] === UNSUBSCRIBE_INVALIDATIONS.code) {
      if (sub !== undefined) {
        const ids = keys === null ? [...sub.keys].filter((id) => id.startsWith(`${ns}\n`)) : keyList(keys).map((k) => `${ns}\n${k}`);
        for (const id of ids) this.#unlink(sub, id);
      }
    } else {
      const list = keyList(keys);
      if (sub === undefined) {
        sub = { socket, keys: new Set() };
        this.#bySocket.set(socket, sub);
        socket.once('close', () => this.drop(socket));
      }
      if (sub.keys.size + list.length > MAX_SUBSCRIPTIONS) throw badRequest(`a connection may subscribe to at most ${MAX_SUBSCRIPTIONS} keys`);
      for (const key of list) this.#link(sub, `${ns}\n${key}`);
    }
    out.statusInt(m[FRAME.id] as number, Status.OK, sub?.keys.size ?? 0); // SUBSCRIBE_INVALIDATIONS.ok
  }

  /** After a write to `ns/key`: pushes to its subscribers. */
  written(ns: string, key: string): void {
    if (this.#byKey.size === 0) return;
    const subs = this.#byKey.get(`${ns}\n${key}`);
    if (subs === undefined) return;
    const frame = encodeFrame(buildPush(ns, key));
    for (const sub of subs) this.#push(sub, frame);
  }

  /** After an INVALIDATE of `ns` (whole or by tag): pushes `[.., ns, null]` to subscribers of any key of it. */
  invalidated(ns: string): void {
    if (this.#byKey.size === 0) return;
    const prefix = `${ns}\n`;
    const frame = encodeFrame(buildPush(ns, null));
    for (const sub of [...this.#bySocket.values()]) {
      for (const id of sub.keys) {
        if (!id.startsWith(prefix)) continue;
        this.#push(sub, frame);
        break;
      }
    }
  }

  /** Forgets every subscription of a closed connection. */
  drop(socket: net.Socket): void {
    const sub = this.#bySocket.get(socket);
    if (sub === undefined) return;
    this.#bySocket.delete(socket);
    for (const id of sub.keys) this.#unlink(sub, id);
  }

  #push(sub: Subscriber, frame: Buffer): void {
    if (sub.socket.destroyed) return;
    if (sub.socket.writableLength > MAX_SUBSCRIBER_BACKLOG) {
      this.#log.warn({ remote: sub.socket.remoteAddress }, 'subscriber does not read its invalidations; disconnecting it');
      sub.socket.destroy();
      return;
    }
    this.pushes++;
    sub.socket.write(frame);
  }

  #link(sub: Subscriber, id: string): void {
    if (sub.keys.has(id)) return;
    sub.keys.add(id);
    let subs = this.#byKey.get(id);
    if (subs === undefined) this.#byKey.set(id, (subs = new Set()));
    subs.add(sub);
  }

  #unlink(sub: Subscriber, id: string): void {
    sub.keys.delete(id);
    const subs = this.#byKey.get(id);
    if (subs === undefined) return;
    subs.delete(sub);
    if (subs.size === 0) this.#byKey.delete(id);
  }
}

function keyList(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SUBSCRIPTIONS) throw badRequest(`keys must be a list of 1 to ${MAX_SUBSCRIPTIONS} keys`);
  for (const key of value) keyArg(key);
  return value as string[];
}
