import { Op, Status } from '../../shared/protocol';
import { clusterKeys } from '../../shared/topology/schema';
import { electedOne, waitFor, type ShardNode, shardNodeSuite } from '../helpers/shard-nodes';

/**
 * SIGTERM of a primary with `writeAck: replica` writes in flight: it stops taking writes, waits
 * (bounded) for its replica, answers what it still holds, then hands the shard over. Every write
 * it acknowledged is on the new primary and no write is left without an answer.
 */
const suite = shardNodeSuite();
const close = (node: ShardNode): Promise<unknown> => suite.close(node).catch(() => undefined);
const NS = 'safe';

/** Pipelined SETs of fresh keys to one node until stopped; every reply (or failure) tallied. */
const loads: AckLoad[] = [];
afterEach(async () => {
  await Promise.all(loads.splice(0).map((l) => l.stop()));
});

class AckLoad {
  readonly ok: string[] = [];
  readonly statuses = new Map<string, number>();
  readonly messages = new Set<string>();
  closed = 0;
  #pending = 0;
  #running = true;
  #seq = 0;
  #loop: Promise<void> | undefined;

  start(node: ShardNode, epoch: number): void {
    loads.push(this);
    this.#loop = (async () => {
      while (this.#running) {
        for (let i = 0; i < 20; i++) this.#send(node, epoch);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
  }

  get pending(): number {
    return this.#pending;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  #send(node: ShardNode, epoch: number): void {
    const key = `w${this.#seq++}`;
    this.#pending++;
    node.conn.request(Op.SET, epoch, NS, key, Buffer.from('v'), 0, 0, 0, 0, null).then(
      (reply) => {
        const name = String(reply[1]);
        this.statuses.set(name, (this.statuses.get(name) ?? 0) + 1);
        if (reply[1] === Status.OK) this.ok.push(key);
        else if (typeof reply[2] === 'string') this.messages.add(reply[2]);
      },
      () => void this.closed++,
    ).finally(() => void this.#pending--);
  }
}

/** Keys of `keys` that `node` does not hold. */
async function missing(node: ShardNode, keys: string[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const reply = await node.conn.request(Op.MGET, NS, chunk);
    (reply[2] as unknown[]).forEach((e, j) => e === null && out.push(chunk[j]));
  }
  return out;
}

async function ackCluster(name: string, extra: string[]): Promise<[ShardNode, ShardNode, number]> {
  const nodes = await suite.start(name, 2, ['--write-ack-timeout-ms', '10000', ...extra]);
  const [primary, [replica], epoch] = await electedOne(nodes);
  await suite.client.put(clusterKeys(name).namespace(NS)).value(JSON.stringify({ writeAck: 'replica' }));
  await waitFor('the writeAck policy and a streaming replica', async () => {
    const [reply, stats] = await Promise.all([primary.conn.request(Op.SET, epoch, NS, 'probe', Buffer.from('v'), 0, 0, 0, 0, null), replica.stats()]);
    return reply[1] === Status.OK && stats.replication.state === 'streaming' && (await primary.stats()).replication.ackTimeouts === 0;
  });
  return [primary, replica, epoch];
}

test('SIGTERM under writeAck: replica load: the replica catches up, every acknowledged write is on the new primary', async () => {
  const [primary, replica, epoch] = await ackCluster('handover', ['--shutdown-sync-ms', '2000']);
  const load = new AckLoad();
  load.start(primary, epoch);
  await waitFor('acknowledged writes', () => load.ok.length > 500);
  const exit = primary.proc.stop();
  expect(await exit).toEqual({ code: 0, signal: null });
  await load.stop();
  await waitFor('every write to be answered', () => load.pending === 0, 10_000);
  expect(primary.proc.lines.some((l) => l.includes('"event":"hand-over"') && l.includes('replicas caught up'))).toBe(true);
  // Writes refused once the node began to shut down were never applied (NOT_PRIMARY: retry elsewhere).
  for (const status of load.statuses.keys()) expect([String(Status.OK), String(Status.NOT_PRIMARY)]).toContain(status);
  const [winner] = await electedOne([replica], 15_000);
  expect(await missing(winner, load.ok)).toEqual([]);
  await close(primary);
  await close(replica);
}, 60_000);

test('SIGTERM while the replica cannot acknowledge: held writes are answered BUSY "node shutting down", none hang', async () => {
  const [primary, replica, epoch] = await ackCluster('held', ['--shutdown-sync-ms', '500']);
  const load = new AckLoad();
  load.start(primary, epoch);
  await waitFor('acknowledged writes', () => load.ok.length > 200);
  const acknowledged = [...load.ok];
  replica.proc.child.kill('SIGSTOP');
  // The primary's replies on the load's connection now wait behind unacknowledged writes.
  await waitFor('writes held for the frozen replica', () => load.pending > 200);
  const exit = await primary.proc.stop();
  await load.stop();
  expect(exit).toEqual({ code: 0, signal: null });
  await waitFor('every write to be answered', () => load.pending === 0, 10_000);
  expect(load.statuses.get(String(Status.BUSY))).toBeGreaterThan(0);
  expect([...load.messages].some((m) => m.startsWith('node shutting down'))).toBe(true);
  expect(load.statuses.get(String(Status.WRITE_ACK_TIMEOUT))).toBeUndefined();
  replica.proc.child.kill('SIGCONT');
  const [winner] = await electedOne([replica], 15_000);
  expect(await missing(winner, acknowledged)).toEqual([]);
  await close(primary);
  await close(replica);
}, 60_000);
