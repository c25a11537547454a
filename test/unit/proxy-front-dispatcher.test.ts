import { Registry } from 'prom-client';
import { createLogger } from '../../shared/log';
import { Dispatcher, type Reply } from '../../proxy/front/dispatcher';
import { FrontMetrics } from '../../proxy/front/metrics';
import type { Command, OutcomeDone } from '../../proxy/front/commands';
import type { ReadPreference } from '../../proxy/backend';
import { FakeBackend } from './proxy-front-fake-backend';

/** A backend that answers synchronously and calls back again with whatever `done` throws, as a careless one would. */
class EchoingBackend extends FakeBackend {
  runs = 0;
  override run(cmd: Command, _pref: ReadPreference, done: OutcomeDone): void {
    this.runs++;
    try {
      done(null, cmd.op === 'delete' ? { op: 'delete', deleted: true } : { op: 'ping' });
    } catch (err) {
      done(err);
    }
  }
}

test("a front whose reply callback throws is answered once, and the throw stays in the front", () => {
  const backend = new EchoingBackend();
  const errors: string[] = [];
  const log = createLogger('test', 'silent');
  log.error = ((obj: { err?: Error }, msg: string) => errors.push(`${msg}: ${obj.err?.message}`)) as unknown as typeof log.error;
  const dispatcher = new Dispatcher({ backend, metrics: new FrontMetrics(new Registry()), log });
  const replies: Reply[] = [];
  const front = (reply: Reply): void => {
    replies.push(reply);
    throw new Error('front bug');
  };
  expect(() => dispatcher.dispatch('resp', { op: 'delete', ns: 'app', key: 'k' }, front)).not.toThrow();
  expect(replies).toEqual([{ ok: true, outcome: { op: 'delete', deleted: true }, seconds: expect.any(Number) }]);
  expect(errors).toEqual(['a front failed while sending its reply: front bug']);
  expect(backend.runs).toBe(1);
});
