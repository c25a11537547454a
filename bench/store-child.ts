import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RecordingStore } from '../scripts/store-server';

/**
 * The system of record of `bench proxy --policies` (bench/proxy-policies.ts), as its own process
 * so that its CPU is measured apart from the benchmark's: the store of scripts/store-server.ts
 * (the one the write-policy tests and the chaos harness use), bulk endpoint on, counting
 * without recording, on a free port of 127.0.0.1; and a second port answering its counters
 * as JSON. Prints one `{"event":"ready","port":..,"statsPort":..}` line; SIGTERM ends it.
 */
async function main(): Promise<void> {
  const store = await RecordingStore.start({ bulk: true, record: false });
  const stats = http.createServer((_req, res) => {
    const body = { requests: store.requestCount, writes: store.writeCount, accepted: store.acceptedCount, staleRejected: store.staleRejected, keys: store.items.size };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: store.port, statsPort: (stats.address() as AddressInfo).port })}\n`);
  process.once('SIGTERM', () => {
    stats.close();
    void store.close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`store: ${(err as Error).message}\n`);
  process.exit(1);
});
