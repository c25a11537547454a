import net from 'node:net';

/**
 * A loopback TCP relay in front of a server, for tests and the chaos harness that must cut a
 * client off: `cut()` drops every relayed connection and refuses new ones until `restore()`.
 */
export class TcpRelay {
  readonly #server: net.Server;
  readonly #pairs = new Set<net.Socket>();
  #open = true;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Relays 127.0.0.1:`listenPort` (0: a free port) to 127.0.0.1:`targetPort`. */
  static start(targetPort: number, listenPort = 0): Promise<TcpRelay> {
    let relay: TcpRelay;
    const server = net.createServer((client) => {
      if (!relay.#open) return void client.destroy();
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        relay.#pairs.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          relay.#pairs.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    relay = new TcpRelay(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve(relay);
      });
    });
  }

  cut(): void {
    this.#open = false;
    for (const socket of this.#pairs) socket.destroy();
  }

  restore(): void {
    this.#open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
