import net from 'node:net';
import Redis, { ReplyError } from 'ioredis';
import { startTestCluster, type TestCluster } from './cluster';
import { waitFor } from './shard-nodes';

/** The message of the Redis error reply `p` rejects with (fails the test when it resolves or fails otherwise). */
export async function rejection(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ReplyError);
  return (err as Error).message;
}

/** A raw RESP3 connection (after `HELLO 3`): `ask` writes an inline command and resolves the reply's bytes once `expected`'s length has come. */
export interface Resp3Session {
  ask(line: string, expected: string): Promise<string>;
  close(): void;
}

/** Opens a connection to the RESP port `port` and switches it to RESP3. */
export async function openResp3(port: number): Promise<Resp3Session> {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  await new Promise((r) => socket.once('connect', r));
  socket.write('HELLO 3\r\n');
  await waitFor('HELLO 3', () => got.includes('proto'), 3000, 5);
  return {
    async ask(line, expected) {
      got = '';
      socket.write(line);
      await waitFor(`a reply to ${JSON.stringify(line)}`, () => got.length >= expected.length, 3000, 5);
      return got;
    },
    close: () => socket.destroy(),
  };
}

/** Redis's WRONGTYPE error line. */
export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/** A cluster (2 shards × primary + replica, the proxy's RESP port) and an ioredis client of it, for one test file. */
export interface RespSuite {
  readonly c: TestCluster;
  readonly redis: Redis;
}

/**
 * Starts the cluster and connects the client before the file's tests (then runs `setup`), and
 * stops both after them. Read `c` and `redis` inside tests, not at load.
 */
export function respClusterSuite(setup?: (s: RespSuite) => Promise<void>): RespSuite {
  const suite = { c: undefined as unknown as TestCluster, redis: undefined as unknown as Redis };
  beforeAll(async () => {
    suite.c = await startTestCluster({ shards: 2, perShard: 2 });
    suite.redis = new Redis({ host: '127.0.0.1', port: suite.c.respPort, maxRetriesPerRequest: 0, lazyConnect: true });
    await suite.redis.connect();
    await setup?.(suite);
  }, 50_000);
  afterAll(async () => {
    suite.redis?.disconnect();
    await suite.c?.stop();
  });
  return suite;
}
