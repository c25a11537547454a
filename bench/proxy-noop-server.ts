import { App, us_socket_local_port, type us_listen_socket } from 'uWebSockets.js';

/**
 * The proxy benchmark's calibration target: a uWebSockets.js server on 127.0.0.1 (the same HTTP
 * stack as the proxy's client port) that answers every request at once with the body of a GET
 * miss, `{"hit":false}`, and does nothing else. Driving it with the same HTTP load shows the
 * most the load generator can do on this machine, apart from anything the proxy does.
 *
 * Prints `{"event":"ready","httpPort":n}` once listening; exits on SIGTERM or SIGINT.
 */
function main(): void {
  const app = App().any('/*', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"hit":false}');
  });
  app.listen('127.0.0.1', 0, (socket: us_listen_socket | false) => {
    if (!socket) {
      console.error('no-op server: cannot listen on 127.0.0.1');
      process.exit(1);
    }
    process.stdout.write(`${JSON.stringify({ event: 'ready', httpPort: us_socket_local_port(socket as never) })}\n`);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
}

if (require.main === module) main();
