import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { Status } from '../../shared/protocol';

/**
 * A storage node double on a real TCP port for link, pool and breaker tests: decodes frames,
 * answers with `reply(message)` (default `[id, OK]`), and can hold its replies (a frozen node),
 * stop reading (backpressure), or drop every connection. Counts chunks and frames received.
 */
export class FakeNode {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  port = 0;
  chunks = 0;
  frames = 0;
  connections = 0;
  /** While true, replies are kept back (in order) until `thaw()`. */
  frozen = false;
  reply: (message: unknown[]) => unknown[] = (m) => [m[0], Status.OK];
  readonly #held: Array<{ socket: net.Socket; frame: Buffer }> = [];

  private constructor() {
    this.server = net.createServer((socket) => this.#accept(socket));
  }

  /** Listens on `port` (0: any free port). */
  static async start(port = 0): Promise<FakeNode> {
    const node = new FakeNode();
    await new Promise<void>((resolve) => node.server.listen(port, '127.0.0.1', resolve));
    node.port = (node.server.address() as net.AddressInfo).port;
    return node;
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Sends every held reply, in order, and answers at once again. */
  thaw(): void {
    this.frozen = false;
    for (const { socket, frame } of this.#held.splice(0)) if (!socket.destroyed) socket.write(frame);
  }

  /** Destroys every open connection (the listener stays). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  pauseReading(): void {
    for (const socket of this.sockets) socket.pause();
  }

  resumeReading(): void {
    for (const socket of this.sockets) socket.resume();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder((message) => {
      this.frames++;
      const frame = encodeFrame(this.reply(message));
      if (this.frozen) this.#held.push({ socket, frame });
      else socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      this.chunks++;
      decoder.push(chunk);
    });
  }
}
