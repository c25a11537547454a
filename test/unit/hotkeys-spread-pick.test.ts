import { pickNode, type NodeHealth } from '../../proxy/routing/picker';
import { fakeSnapshot } from '../helpers/fake-topology';

const snapshot = fakeSnapshot({ shards: [{ primary: { nodeId: 'p', epoch: 9 }, replicas: ['r1', 'r2'] }] });
const health = (down: string[] = []): NodeHealth => ({ isHealthy: (id) => !down.includes(id), isUnreachable: () => false });

describe("pickNode intent 'spread' (replica-spread hot keys)", () => {
  it('draws the primary and every replica with the same chance', () => {
    const drawn = [0, 0.34, 0.67].map((r) => pickNode(snapshot, 0, 'spread', health(), () => r));
    expect(drawn.map((p) => (p.ok ? p.nodeId : '-'))).toEqual(['r1', 'r2', 'p']);
    expect(drawn.every((p) => p.ok && p.epoch === 9)).toBe(true);
  });

  it('skips nodes whose breaker is open, and says which is unhealthy when all are', () => {
    expect(pickNode(snapshot, 0, 'spread', health(['p']), () => 0.67)).toMatchObject({ ok: true, nodeId: 'r1' });
    expect(pickNode(snapshot, 0, 'spread', health(['p', 'r1', 'r2']), () => 0)).toEqual({ ok: false, reason: 'unhealthy', nodeId: 'p' });
    expect(pickNode(fakeSnapshot({ shards: [{}] }), 0, 'spread', health(), () => 0)).toEqual({ ok: false, reason: 'no-primary' });
  });
});
