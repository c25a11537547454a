import net from 'node:net';
import { ReplyError } from 'ioredis';
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
