import type { Socket } from 'node:net';
import type { Logger } from '../../../shared/log';
import type { FrontMetrics } from '../metrics';
import { runCommand } from './commands';
import { hostPort, type ClientFacts } from './clients';
import type { CommandSpec, GuardLimits, RespClient, RespContext, RespLimits, ServerFacts, Session } from './context';
import { isCrossProtocol } from './cross-protocol';
import { RESP_FRONT, type RespDoor } from './door';
import { RespRefusals } from './errors';
import { sweepVerdict, type InputBudget, type SweepFacts } from './guards';
import { KeyOrder } from './key-order';
import { RespParser } from './parser';
import { error, resp3Nulls } from './reply';
import { ReplyQueue, type ReplySlot } from './reply-queue';

/** What a connection gets from its server. */
export interface ConnectionOptions {
  id: number;
  /** The listener's namespace; AUTH may change it for this connection. */
  namespace: string;
  limits: RespLimits & GuardLimits;
  /** The process's input budget, shared by every connection. */
  budget: InputBudget;
  /** The server's sweep clock (ms), advanced by its timer: read instead of Date.now() on each event. */
  clock: { readonly now: number };
  door: RespDoor;
  server: ServerFacts;
  commands: ReadonlyMap<string, CommandSpec>;
  metrics: FrontMetrics;
  log: Logger;
  onClose(): void;
}

/** Unsent reply bytes above which the connection stops reading requests and writing more. */
const PAUSE_BYTES = 1024 * 1024;
/** How long unsent replies may stay above `maxBufferedBytes` without the client reading any. */
export const DEFAULT_STALL_MS = 10_000;

/**
 * One RESP client connection (the socket shell around the parser, the command table and the
 * reply queue):
 *
 *   'data' ─► parser.push ─► pump: next() ─► runCommand (after earlier commands on its keys) ─► slot filled
 *                              ▲                                                                    │
 *                              └── flush: write the ready head of the queue, one write per turn ◄──┘ (setImmediate, 'drain')
 *
 * Bounds: at most `maxInFlight` commands unanswered; unsent replies (queued + socket buffer) above
 * min(1 MiB, maxBuffered / 2) stop reading, and a socket buffer above it stops writing until the socket drains, so the socket
 * buffer stays small and the rest waits in the queue. A client that leaves more than
 * `maxBufferedBytes` unsent for `stallMs` without reading is disconnected. A protocol error or
 * QUIT answers what came before, then the error (or +OK), then closes.
 *
 * Guards (guards.ts): 'data' and writes stamp `lastActive`, each pump stamps when the incomplete
 * request the parser holds began and moves the parser's byte count in the process's input budget
 * (a growth past it refuses the connection); the server's one sweep timer reads the stamps
 * (`sweep`). An HTTP request line or header (cross-protocol.ts) drops the connection, no reply.
 */
export class RespConnection implements RespClient {
  readonly #socket: Socket;
  readonly #o: ConnectionOptions;
  readonly #parser: RespParser;
  readonly #order = new KeyOrder();
  readonly #queue = new ReplyQueue((slot) => this.#filled(slot));
  readonly #ctx: RespContext;
  readonly #pauseAt: number;
  #flushScheduled = false;
  /** Inside #pump (commands being taken on). */
  #pumping = false;
  #paused = false;
  #stall: NodeJS.Timeout | undefined;
  /** No more commands are taken on: QUIT or a protocol error. */
  #ending = false;
  /** Proxy shutdown: nothing more is read from the socket; the commands already read are still taken on. */
  #draining = false;
  /** The client ended its side: what it sent is still answered, then the connection ends. */
  #inputEnded = false;
  /** The parser had no complete command left at the last pump. */
  #drained = false;
  #closed = false;
  /** What the server's sweep reads; updated in place. */
  readonly #sweepFacts: SweepFacts;
  /** The parser's bytes as counted in the input budget. */
  #held = 0;
  /** Most bytes the parser held at once (CLIENT LIST's rbp). */
  #heldPeak = 0;
  /** CLIENT LIST's fixed facts, read once from the socket. */
  readonly #laddr: string;
  readonly #fd: number;
  readonly #createdAt = Date.now();

  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#o = options;
    this.#parser = new RespParser(options.limits);
    this.#sweepFacts = { lastActive: options.clock.now, partialSince: 0, busy: false };
    // At least the socket's high-water mark, so a buffer at the threshold always ends with a 'drain'.
    this.#pauseAt = Math.max(socket.writableHighWaterMark, Math.min(PAUSE_BYTES, Math.floor(options.limits.maxBufferedBytes / 2)));
    const session: Session = {
      id: options.id, ns: options.namespace, name: null, quit: false, protocol: 2, principal: undefined,
      addr: hostPort(socket.remoteAddress, socket.remotePort), lastCommand: 'NULL', libName: null, libVer: null,
    };
    this.#laddr = hostPort(socket.localAddress, socket.localPort);
    // A TCP socket's handle has its descriptor; a TLS socket's does not (-1, as Redis shows for a fake client).
    this.#fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    this.#ctx = { session, door: options.door.forConnection(session), server: options.server, commands: options.commands, now: Date.now };
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err) => options.log.debug({ err: err.message, id: options.id }, 'RESP connection error'));
    socket.on('close', () => this.#onClose());
  }

  /**
   * Proxy shutdown: stops reading from the socket; the commands already read (taken on, or
   * complete in the parser's buffer) are answered, then the connection ends. An incomplete
   * command is dropped.
   */
  end(): void {
    if (this.#closed || this.#ending || this.#draining) return;
    this.#draining = true;
    this.#pump();
    this.#scheduleFlush();
  }

  /** Ends the connection now: unsent replies are dropped. */
  destroy(): void {
    this.#socket.destroy();
  }

  get session(): Session {
    return this.#ctx.session;
  }

  /** CLIENT KILL of this connection by another: closed at once, as Redis frees a killed client. */
  kill(): void {
    this.#o.log.debug({ id: this.#o.id }, 'RESP connection killed by CLIENT KILL');
    this.destroy();
  }

  /** CLIENT LIST's figures, read from fields the connection keeps anyway (nothing is counted per command for them). */
  clientFacts(now: number): ClientFacts {
    const s = this.#ctx.session;
    return {
      id: s.id, addr: s.addr, laddr: this.#laddr, fd: this.#fd, name: s.name,
      age: Math.max(0, Math.floor((now - this.#createdAt) / 1000)), idle: Math.max(0, Math.floor((now - this.#sweepFacts.lastActive) / 1000)),
      qbuf: this.#parser.bufferedBytes, qbufPeak: this.#heldPeak, oll: this.#queue.size, omem: this.#unsent, cmd: s.lastCommand,
      user: s.principal?.user ?? 'default', resp: s.protocol, libName: s.libName, libVer: s.libVer,
    };
  }

  /** Reply bytes produced and not yet handed to the kernel. */
  get #unsent(): number {
    return this.#queue.filledBytes + this.#socket.writableLength;
  }

  /** The server's periodic sweep: closes the connection when idle too long or too slow to finish a request. */
  sweep(now: number): void {
    if (this.#closed || this.#ending) return;
    const facts = this.#sweepFacts;
    facts.busy = this.#queue.size > 0 || this.#unsent > 0;
    const verdict = sweepVerdict(now, facts, this.#o.limits);
    if (verdict === 'request_timeout') {
      this.#o.log.debug({ id: this.#o.id }, 'RESP request not completed in time; closing the connection');
      this.#refuse('request_timeout', RespRefusals.requestTimeout(this.#o.limits.requestTimeoutMs));
    } else if (verdict === 'idle') {
      this.#o.log.debug({ id: this.#o.id }, 'RESP connection idle past the timeout; closing it');
      this.#drop('idle_timeout');
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#ending) return;
    this.#sweepFacts.lastActive = this.#o.clock.now;
    this.#drained = false;
    this.#parser.push(chunk);
    this.#pump();
  }

  #onDrain(): void {
    clearTimeout(this.#stall); // the client read everything written so far
    this.#stall = undefined;
    this.#flush();
  }

  #onEnd(): void {
    this.#inputEnded = true;
    this.#pump();
    this.#scheduleFlush();
  }

  /** Takes on commands while the bounds allow, then pauses or resumes the socket. */
  #pump(): void {
    if (this.#closed) return;
    const { maxInFlight } = this.#o.limits;
    let taken = 0;
    this.#pumping = true;
    this.#queue.nextBatch(); // the commands taken now are answered together (ReplyQueue)
    while (!this.#ending && this.#queue.size < maxInFlight && this.#unsent < this.#pauseAt) {
      const item = this.#parser.next();
      if (item === undefined) {
        this.#drained = true;
        break;
      }
      taken++;
      if (item.kind === 'error') this.#protocolError(item.message);
      else this.#execute(item.args);
    }
    this.#pumping = false;
    if (this.#draining && this.#drained && !this.#ending) this.#finish(); // every command read is taken on
    const full = this.#queue.size >= maxInFlight || this.#unsent >= this.#pauseAt;
    this.#track(taken, full);
    const pause = this.#ending || this.#draining || full;
    if (pause !== this.#paused) {
      this.#paused = pause;
      if (pause) this.#socket.pause();
      else this.#socket.resume();
    }
  }

  /**
   * After a pump (`taken` commands taken on; `full`: reading stops for backpressure): stamps when
   * the incomplete request the parser now holds began (a command completed in this pump: now),
   * and counts the parser's bytes in the input budget; the connection whose growth would pass the
   * budget is refused.
   */
  #track(taken: number, full: boolean): void {
    const held = this.#parser.bufferedBytes;
    const facts = this.#sweepFacts;
    // Nothing held, complete commands waiting for room, or reading stopped by the proxy: the
    // client is not the slow one, so its clock does not run.
    if (full || !this.#drained || held === 0) facts.partialSince = 0;
    else if (taken > 0 || facts.partialSince === 0) facts.partialSince = this.#o.clock.now;
    if (held === this.#held) return;
    if (this.#o.budget.move(this.#held, held)) {
      this.#held = held;
      if (held > this.#heldPeak) this.#heldPeak = held;
      return;
    }
    this.#o.log.warn({ id: this.#o.id, held, budget: this.#o.budget.limit }, 'RESP input buffer budget of the process exceeded; closing the connection');
    this.#refuse('input_budget', RespRefusals.inputBudget);
  }

  #execute(args: Buffer[]): void {
    if (isCrossProtocol(args, this.#parser.lastInline)) {
      this.#o.log.warn({ id: this.#o.id, remote: this.#socket.remoteAddress }, 'Possible SECURITY ATTACK detected: an HTTP request was sent to the RESP port; connection closed without a reply');
      this.#drop('cross_protocol');
      return;
    }
    const slot = this.#queue.reserve();
    slot.args = args;
    this.#o.server.stats.commands++;
    runCommand(this.#ctx, args, this.#order, this.#o.log, slot);
    if (this.#ctx.session.quit) this.#finish();
  }

  #protocolError(message: string): void {
    this.#o.server.stats.protocolErrors++;
    this.#o.metrics.refused(RESP_FRONT, 'protocol_error');
    this.#o.log.debug({ id: this.#o.id, reason: message }, 'RESP protocol error; closing the connection');
    this.#fill(this.#queue.reserve(), error(`ERR ${message}`));
    this.#finish();
  }

  /** Counts the refusal, then answers `line` after the replies owed and closes (nothing more is read). */
  #refuse(reason: string, line: string): void {
    this.#o.metrics.refused(RESP_FRONT, reason);
    this.#finish(); // first: #fill below must not flush (and pump) synchronously
    this.#release();
    this.#fill(this.#queue.reserve(), error(line));
  }

  /** Counts the refusal and closes now, without a reply (replies not yet written are dropped). */
  #drop(reason: string): void {
    this.#o.metrics.refused(RESP_FRONT, reason);
    this.#ending = true;
    this.#parser.reset();
    this.#release();
    this.#socket.destroy();
  }

  /** Gives the parser's bytes back to the input budget (the parser was reset). */
  #release(): void {
    this.#o.budget.move(this.#held, 0);
    this.#held = 0;
  }

  /** Stops reading; the connection ends once every reserved reply is written. */
  #finish(): void {
    this.#ending = true;
    this.#parser.reset();
    this.#scheduleFlush();
  }

  #fill(slot: ReplySlot, bytes: Buffer): void {
    slot.fill(bytes);
  }

  /** A slot was filled (by a command, or by the connection): its keys are free; write or schedule the write. */
  #filled(slot: ReplySlot): void {
    this.#order.release(slot);
    if (this.#closed) return;
    // The only command in flight (an unpipelined client): nothing else can join this write, so
    // write now rather than a turn later (saves the hop and its latency). Otherwise wait for the
    // turn's other replies and write them together.
    // (Not while pumping: replies produced synchronously by a burst of commands go out together.)
    if (this.#queue.size === 1 && !this.#pumping && !this.#flushScheduled && !this.#ending) this.#flush();
    else this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#closed) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Writes the ready head of the queue in one write, up to the pause threshold. */
  #flush(): void {
    if (this.#closed) return;
    const budget = this.#pauseAt - this.#socket.writableLength;
    const ready = budget > 0 ? this.#queue.takeReady(budget) : [];
    if (this.#ctx.session.protocol === 3) for (let i = 0; i < ready.length; i++) ready[i] = resp3Nulls(ready[i]);
    // write() answering false promises a 'drain' (which flushes again); otherwise go on next turn.
    const accepted = ready.length > 0 && this.#socket.write(ready.length === 1 ? ready[0] : Buffer.concat(ready));
    if (ready.length > 0) this.#sweepFacts.lastActive = this.#o.clock.now;
    if (accepted && this.#queue.readyAtHead) this.#scheduleFlush();
    this.#watchStall(accepted);
    if ((this.#ending || (this.#inputEnded && this.#drained)) && this.#queue.size === 0) {
      this.#socket.end(() => this.#socket.destroy());
      return;
    }
    this.#pump();
  }

  /**
   * Arms the not-reading timer while unsent replies exceed the limit. Progress disarms it: a
   * 'drain', or a write the socket took without backpressure (the client read what came before).
   */
  #watchStall(progress: boolean): void {
    const { maxBufferedBytes, stallMs = DEFAULT_STALL_MS } = this.#o.limits;
    if (progress || this.#unsent <= maxBufferedBytes) {
      clearTimeout(this.#stall);
      this.#stall = undefined;
      return;
    }
    this.#stall ??= setTimeout(() => {
      if (this.#closed || this.#unsent <= maxBufferedBytes) return;
      this.#o.metrics.refused(RESP_FRONT, 'not_reading');
      this.#o.log.debug({ id: this.#o.id, unsent: this.#unsent }, 'RESP client is not reading its replies; closing');
      this.#socket.destroy();
    }, stallMs);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#stall);
    this.#parser.reset();
    this.#release();
    this.#o.onClose();
  }
}
