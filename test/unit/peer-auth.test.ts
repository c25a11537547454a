import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { authenticatePeer, loadClusterSecrets, PeerAuthError, PeerChallenge } from '../../shared/peer-auth';

const loadClusterSecret = (file: string | undefined, env: NodeJS.ProcessEnv): string => loadClusterSecrets(file, env)[0];
import { Op, Status } from '../../shared/protocol';
import { thrownBy } from '../helpers/thrown';

const SECRET = 'cluster-secret-0123456789';

/** A one-connection server running `PeerChallenge` as the node does; resolves what it saw. */
async function node(secrets: string[], tamper?: (reply: unknown[]) => unknown[]): Promise<{ port: number; done: Promise<string>; close(): Promise<void> }> {
  let settle!: (outcome: string) => void;
  const done = new Promise<string>((r) => (settle = r));
  const server = net.createServer((socket) => {
    const challenge = new PeerChallenge(...secrets);
    const decoder = new FrameDecoder((m) => {
      try {
        const reply = m[1] === Op.HELLO ? [m[0], Status.OK, challenge.hello(m[2])] : [m[0], Status.OK, challenge.verify(m[2])];
        socket.write(encodeFrame(tamper ? tamper(reply) : reply));
        if (m[1] === Op.AUTH) settle('authenticated');
      } catch (err) {
        socket.end(encodeFrame([0, Status.UNAUTHENTICATED, (err as Error).message]));
        settle(`refused: ${(err as Error).message}`);
      }
    });
    socket.on('data', (c: Buffer) => decoder.push(c));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, done, close: () => new Promise((r) => server.close(() => r())) };
}

const client = (port: number, secret: string): Promise<unknown> => new Promise((resolve) => {
  const socket = net.connect(port, '127.0.0.1', () => {
    authenticatePeer(socket, secret, 2000).then(() => {
      socket.destroy();
      resolve('ok');
    }, resolve);
  });
  socket.on('error', () => undefined);
});

test('both sides prove the secret; the secret never crosses the wire', async () => {
  const n = await node([SECRET]);
  const seen: Buffer[] = [];
  const spy = net.createServer((inbound) => {
    const outbound = net.connect(n.port, '127.0.0.1');
    inbound.on('data', (d: Buffer) => {
      seen.push(d);
      outbound.write(d);
    });
    outbound.on('data', (d: Buffer) => {
      seen.push(d);
      inbound.write(d);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((r) => spy.listen(0, '127.0.0.1', r));
  try {
    expect(await client((spy.address() as net.AddressInfo).port, SECRET)).toBe('ok');
    expect(await n.done).toBe('authenticated');
    expect(Buffer.concat(seen).includes(Buffer.from(SECRET))).toBe(false);
  } finally {
    await new Promise((r) => spy.close(r));
    await n.close();
  }
});

test('a wrong secret is refused by the node with UNAUTHENTICATED', async () => {
  const n = await node([SECRET]);
  try {
    const err = await client(n.port, 'another-secret-0123456789');
    expect(err).toBeInstanceOf(PeerAuthError);
    expect((err as Error).message).toMatch(/refused the handshake: wrong cluster secret/);
    expect(await n.done).toBe('refused: wrong cluster secret');
  } finally {
    await n.close();
  }
});

test('a node that cannot prove the secret back is refused by the client', async () => {
  const n = await node([SECRET], (reply) => (reply[0] === 2 ? [2, Status.OK, Buffer.alloc(32)] : reply));
  try {
    expect(((await client(n.port, SECRET)) as Error).message).toMatch(/could not prove it knows the cluster secret/);
  } finally {
    await n.close();
  }
});

test('the challenge refuses AUTH before HELLO, a second HELLO and odd nonces', () => {
  expect(thrownBy(() => new PeerChallenge(SECRET).verify(Buffer.alloc(32)), PeerAuthError).message).toBe('AUTH before HELLO');
  const c = new PeerChallenge(SECRET);
  c.hello(Buffer.alloc(32));
  expect(thrownBy(() => c.hello(Buffer.alloc(32)), PeerAuthError).message).toMatch(/already/);
  for (const nonce of [Buffer.alloc(8), Buffer.alloc(65), 'text', 42, null]) expect(thrownBy(() => new PeerChallenge(SECRET).hello(nonce), PeerAuthError).message).toMatch(/16-64 bytes/);
  // A recorded proof is useless on the next connection: each challenge has a fresh nonce.
  const first = new PeerChallenge(SECRET);
  const second = new PeerChallenge(SECRET);
  expect(first.hello(Buffer.alloc(32, 1)).equals(second.hello(Buffer.alloc(32, 1)))).toBe(false);
});

test('during a rotation a node accepts either secret and proves back the one the client used', async () => {
  const n = await node(['new-secret-0123456789', SECRET]);
  try {
    expect(await client(n.port, SECRET)).toBe('ok');
  } finally {
    await n.close();
  }
  const m = await node(['new-secret-0123456789', SECRET]);
  try {
    expect(await client(m.port, 'new-secret-0123456789')).toBe('ok');
  } finally {
    await m.close();
  }
  const o = await node(['new-secret-0123456789', SECRET]);
  try {
    expect(await client(o.port, 'third-secret-0123456789')).toBeInstanceOf(PeerAuthError);
  } finally {
    await o.close();
  }
});

test('the secret comes from a file or the environment, at least 16 characters', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secret-'));
  try {
    const file = path.join(dir, 's');
    fs.writeFileSync(file, `${SECRET}\n\n`);
    expect(loadClusterSecret(file, {})).toBe(SECRET);
    expect(loadClusterSecret(undefined, { SHARDCACHE_CLUSTER_SECRET: SECRET })).toBe(SECRET);
    expect(loadClusterSecret(undefined, {})).toBe('');
    expect(() => loadClusterSecret(undefined, { SHARDCACHE_CLUSTER_SECRET: 'short' })).toThrow(/SHARDCACHE_CLUSTER_SECRET: a cluster secret must be at least 16/);
    expect(() => loadClusterSecret(path.join(dir, 'missing'), {})).toThrow(/cannot read .*ENOENT/);
    const rotating = path.join(dir, 'r');
    fs.writeFileSync(rotating, `new-secret-0123456789\n${SECRET}\n`);
    expect(loadClusterSecrets(rotating, {})).toEqual(['new-secret-0123456789', SECRET]);
    expect(loadClusterSecrets(file, {})).toEqual([SECRET]); // a second line that is blank is none
    fs.writeFileSync(rotating, `new-secret-0123456789\nshort\n`);
    expect(() => loadClusterSecrets(rotating, {})).toThrow(/at least 16/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
