import { Op, Status } from '../../shared/protocol';
import { clusterKeys } from '../../shared/topology/schema';
import { electedOne, shardNodeSuite, waitFor, type ShardNode } from '../helpers/shard-nodes';

const suite = shardNodeSuite();
let node: ShardNode;
const keys = clusterKeys('policies');

beforeAll(async () => {
  [node] = await suite.start('policies', 1);
});

describe('a cluster node applies namespace policies from etcd', () => {
  test('max item size set with shardctl ns set takes effect without a restart, and its removal lifts it', async () => {
    const [, , epoch] = await electedOne([node]);
    const put = (bytes: number) => node.conn.request(Op.SET, epoch, 'limited', 'k', Buffer.alloc(bytes, 1), 0, 0, 0, 0, null);
    expect((await put(500))[1]).toBe(Status.OK);
    await suite.client.put(keys.namespace('limited')).value(JSON.stringify({ maxItemBytes: 100 }));
    const refused = await waitFor('the policy to apply', async () => ((await put(500))[1] === Status.TOO_LARGE ? true : undefined), 5000);
    expect(refused).toBe(true);
    expect((await put(50))[1]).toBe(Status.OK);
    await suite.client.delete().key(keys.namespace('limited'));
    await waitFor('the policy to be lifted', async () => ((await put(500))[1] === Status.OK ? true : undefined), 5000);
  });
});
