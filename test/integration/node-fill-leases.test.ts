import { NodeConnection } from '../../shared/node-connection';
import { Op, Status } from '../../shared/protocol';
import { startProgram, type Started } from '../helpers/process';

/** The fill-lease ops on the wire of a standalone node (epoch 0). */
describe('storage node: FILL_LEASE, FILL, FILL_RELEASE', () => {
  let node: Started;
  let conn: NodeConnection;

  beforeAll(async () => {
    node = await startProgram('storage-node/main.js', ['--port', '0', '--admin-port', '0', '--max-memory', '16mb']);
    conn = await NodeConnection.connect(node.ready.port as number);
  });

  afterAll(async () => {
    await conn?.close();
    expect(await node?.stop()).toEqual({ code: 0, signal: null });
  });

  test('one lease at a time; FILL lands with the token and ends the lease; a later lease sees the entry changed', async () => {
    const granted = await conn.request(Op.FILL_LEASE, 0, 'rt', 'k', 5000, 0);
    expect(granted.slice(1, 2)).toEqual([Status.OK]);
    const token = granted[2] as number;
    expect(token).toBeGreaterThan(0);
    const held = await conn.request(Op.FILL_LEASE, 0, 'rt', 'k', 5000, 0);
    expect(held[1]).toBe(Status.LEASE_HELD);
    expect(held[3]).toBeGreaterThan(4000);
    const filled = await conn.request(Op.FILL, 0, 'rt', 'k', token, Buffer.from('v'), 60_000, 5);
    expect(filled[1]).toBe(Status.OK);
    const version = filled[2] as number;
    const changed = await conn.request(Op.FILL_LEASE, 0, 'rt', 'k', 5000, 0);
    expect(changed.slice(1, 3)).toEqual([Status.OK, 0]);
    expect((changed[3] as unknown[]).slice(0, 2)).toEqual([Buffer.from('v'), version]);
    expect((changed[3] as unknown[])[3]).toBe(5);
    // A refresh with the version it saw gets a lease; a FILL with a stale token is refused.
    const refresh = await conn.request(Op.FILL_LEASE, 0, 'rt', 'k', 5000, version);
    expect(refresh[2]).toBeGreaterThan(token);
    expect((await conn.request(Op.FILL, 0, 'rt', 'k', token, Buffer.from('late'), 60_000, 0))[1]).toBe(Status.LEASE_LOST);
    expect((await conn.request(Op.FILL_RELEASE, 0, 'rt', 'k', refresh[2])).slice(1)).toEqual([Status.OK, 1]);
    expect((await conn.request(Op.FILL_RELEASE, 0, 'rt', 'k', refresh[2])).slice(1)).toEqual([Status.OK, 0]);
    expect((await conn.request(Op.GET, 'rt', 'k'))[2]).toEqual(Buffer.from('v'));
  });

  test('a released lease frees the key at once', async () => {
    const first = await conn.request(Op.FILL_LEASE, 0, 'rt', 'r', 60_000, 0);
    await conn.request(Op.FILL_RELEASE, 0, 'rt', 'r', first[2]);
    expect((await conn.request(Op.FILL_LEASE, 0, 'rt', 'r', 60_000, 0))[1]).toBe(Status.OK);
  });

  test('bad arguments are BAD_REQUEST and a wrong epoch NOT_PRIMARY; the connection stays usable', async () => {
    const bad = async (...args: unknown[]): Promise<unknown[]> => (await conn.request(...(args as [number, ...unknown[]]))).slice(1, 3);
    expect(await bad(Op.FILL_LEASE, 0, 'rt', 'x', 0, 0)).toEqual([Status.BAD_REQUEST, 'leaseTtlMs must be a whole number from 1 to 60000']);
    expect(await bad(Op.FILL_LEASE, 0, 'rt', 'x', 'soon', 0)).toEqual([Status.BAD_REQUEST, 'leaseTtlMs must be a whole number from 1 to 60000']);
    expect(await bad(Op.FILL, 0, 'rt', 'x', -1, Buffer.from('v'), 0, 0)).toEqual([Status.BAD_REQUEST, 'token must be a whole number above 0']);
    expect(await bad(Op.FILL, 0, 'rt', 'x', 1, { no: 'bytes' }, 0, 0)).toEqual([Status.BAD_REQUEST, 'value must be binary (msgpack bin) or a string']);
    expect(await bad(Op.FILL_RELEASE, 0, 'bad ns', 'x', 1)).toEqual([Status.BAD_REQUEST, 'namespace must be 1-64 characters of letters, digits, "_", "-" or "."']);
    expect((await conn.request(Op.FILL_LEASE, 7, 'rt', 'x', 100, 0))[1]).toBe(Status.NOT_PRIMARY);
    expect((await conn.request(Op.PING))[1]).toBe(Status.OK);
  });
});
