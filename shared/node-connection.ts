import net from 'node:net';
import { encodeFrame, FrameDecoder } from './frame';
import { ShardcacheError } from './errors';
import { dialPeer, OPEN_ACCESS, type PeerAccess } from './peer-auth';
import { Limits } from './protocol';

/** Deadline of a tool's connect and handshake. */
const CONNECT_TIMEOUT_MS = 10_000;

export type ReplyCallback = (err: Error | null, reply?: unknown[]) => void;

/** The connection closed (or failed) before a reply came. */
export class ConnectionClosedError extends ShardcacheError {
  constructor(message = 'connection to the storage node closed') {
    super('CONNECTION_CLOSED', message);
  }
}

/**
 * One pipelined connection to a storage node: requests are framed and written at once, writes of
 * one event-loop turn are corked into one syscall, replies are matched in order (the node answers
 * each connection in order) and checked against the request id.
 * Owns: the socket, the ids, the queue of callbacks. Used by tools, tests and benchmarks; the
 * proxy builds its pool, deadlines and breakers on the same frame codec.
 */
export class NodeConnection {
  readonly socket: net.Socket;
  readonly #pending: Array<{ id: number; cb: ReplyCallback }> = [];
  #head = 0;
  #nextId = 1;
  #corked = false;
  #closedError: Error | null = null;

  private constructor(socket: net.Socket, maxFrameBytes: number) {
    this.socket = socket;
    const decoder = new FrameDecoder((reply) => this.#onReply(reply), maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', (err) => this.#failAll(err));
    socket.on('close', () => this.#failAll(new ConnectionClosedError()));
  }

  /**
   * Connects (over TLS and proving the secret as `access` says, shared/peer-auth.ts); rejects with
   * the socket error when the node cannot be reached, or PeerAuthError when the handshake fails.
   */
  static connect(port: number, host = '127.0.0.1', maxFrameBytes: number = Limits.DEFAULT_MAX_FRAME_BYTES, access: PeerAccess = OPEN_ACCESS): Promise<NodeConnection> {
    return new Promise((resolve, reject) => {
      const socket = dialPeer({ port, host, access, timeoutMs: CONNECT_TIMEOUT_MS }, () => {
        socket.off('error', reject);
        socket.off('close', onClose);
        resolve(new NodeConnection(socket, maxFrameBytes));
      });
      // A refusal may come as an error, or only as the connection closing (a TLS port given plain TCP).
      const onClose = (): void => reject(new ConnectionClosedError('the node closed the connection before it was ready'));
      socket.once('error', reject);
      socket.once('close', onClose);
    });
  }

  /** Requests waiting for their reply. */
  get pending(): number {
    return this.#pending.length - this.#head;
  }

  /** Sends `[id, ...body]` and calls back with the reply. */
  send(body: readonly unknown[], cb: ReplyCallback): void {
    if (this.#closedError) {
      cb(this.#closedError);
      return;
    }
    const id = this.#nextId;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    this.#pending.push({ id, cb });
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(encodeFrame([id, ...body]));
  }

  /** Promise form of `send`: resolves with the whole reply `[id, status, ...result]`. */
  request(op: number, ...args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.send([op, ...args], (err, reply) => (err ? reject(err) : resolve(reply as unknown[])));
    });
  }

  /** Closes the connection; waits until the socket is gone. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      this.socket.destroySoon?.();
    });
  }

  #onReply(reply: unknown[]): void {
    const entry = this.#pending[this.#head];
    if (!entry) return; // an unsolicited frame (a protocol error notice with id 0)
    if (reply[0] !== entry.id && reply[0] === 0) return this.#failAll(new ShardcacheError('PROTOCOL_ERROR', String(reply[2])));
    this.#pending[this.#head++] = undefined as never;
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending.splice(0, this.#head);
      this.#head = 0;
    }
    if (reply[0] !== entry.id) {
      entry.cb(new ShardcacheError('PROTOCOL_ERROR', `reply id ${String(reply[0])} does not match request id ${entry.id}`));
      return;
    }
    entry.cb(null, reply);
  }

  #failAll(err: Error): void {
    this.#closedError ??= err;
    const waiting = this.#pending.splice(this.#head);
    this.#pending.length = 0;
    this.#head = 0;
    for (const { cb } of waiting) cb(err);
  }
}
