import { RESP_COMMANDS } from '../../proxy/front/resp/commands';
import { COMMAND_DOCS, commandDocs, type ArgDoc, type CommandDoc } from '../../proxy/front/resp/command-docs';

/**
 * COMMAND DOCS must cover every command the RESP front serves: a command added to RESP_COMMANDS
 * without its entry in proxy/front/resp/command-docs.ts fails here.
 */

const GROUPS = new Set(['string', 'hash', 'set', 'generic', 'connection', 'server']);

/** Every argument of `args`, depth first. */
const walk = (args: readonly ArgDoc[] = []): ArgDoc[] => args.flatMap((a) => [a, ...walk(a.args)]);

function expectWellFormed(name: string, d: CommandDoc): void {
  expect([name, d.summary.length > 0, /^\d+\.\d+\.\d+$/.test(d.since), GROUPS.has(d.group), d.complexity.length > 0]).toEqual([name, true, true, true, true]);
  for (const a of walk(d.args)) {
    const container = a.type === 'oneof' || a.type === 'block';
    expect([name, a.name, container]).toEqual([name, a.name, (a.args?.length ?? 0) > 0]);
    if (a.type === 'pure-token') expect([name, a.token]).toEqual([name, expect.stringMatching(/^[A-Z-]+$/)]);
  }
  for (const [sub, sd] of Object.entries(d.subcommands ?? {})) expectWellFormed(`${name}|${sub}`, sd);
}

test('every command served has its docs', () => {
  const missing = [...RESP_COMMANDS.keys()].filter((name) => !Object.hasOwn(COMMAND_DOCS, name));
  expect(missing).toEqual([]);
});

test.each([...RESP_COMMANDS.keys()])('%s: docs well formed, keys documented where COMMAND INFO names key positions', (name) => {
  const d = COMMAND_DOCS[name];
  expectWellFormed(name, d);
  const spec = RESP_COMMANDS.get(name)!;
  const keyArgs = walk(d.args).filter((a) => a.type === 'key').length + Object.values(d.subcommands ?? {}).flatMap((s) => walk(s.args)).filter((a) => a.type === 'key').length;
  expect([name, keyArgs > 0]).toEqual([name, spec.keys[0] > 0]);
  // An arity of exactly n means n - 1 required arguments after the name.
  if (spec.arity > 0 && d.subcommands === undefined) {
    const required = (d.args ?? []).filter((a) => a.optional !== true).length;
    expect([name, required]).toEqual([name, spec.arity - 1]);
  }
});

test('the observing commands document the sub-commands they serve', () => {
  expect(Object.keys(COMMAND_DOCS.client.subcommands!)).toEqual(expect.arrayContaining(['list', 'info', 'kill', 'id', 'setname', 'getname', 'setinfo', 'no-evict', 'no-touch']));
  expect(Object.keys(COMMAND_DOCS.slowlog.subcommands!).sort()).toEqual(['get', 'len', 'reset']);
  expect(Object.keys(COMMAND_DOCS.latency.subcommands!).sort()).toEqual(['doctor', 'history', 'latest', 'reset']);
  expect(Object.keys(COMMAND_DOCS.memory.subcommands!)).toEqual(['usage']);
  expect(Object.keys(COMMAND_DOCS.config.subcommands!).sort()).toEqual(['get', 'set']);
});

describe('COMMAND DOCS replies', () => {
  const served = new Map([['get', 1], ['memory', 1]]);

  test('RESP2: a flat array of name, then the doc as a flat array; arguments as flat arrays', () => {
    const text = commandDocs(['GET'], served, 2).toString('latin1');
    expect(text).toBe(
      '*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$34\r\nReturns the string value of a key.\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n'
      + '$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*8\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$12\r\ndisplay_text\r\n$3\r\nkey\r\n'
      + '$14\r\nkey_spec_index\r\n:0\r\n',
    );
  });

  test('RESP3: maps at every level; sub-commands under their full names; unknown names left out', () => {
    const text = commandDocs(['memory', 'nosuch', 'get'], served, 3).toString('latin1');
    expect(text.startsWith('%2\r\n$6\r\nmemory\r\n%5\r\n')).toBe(true);
    expect(text).toContain('$11\r\nsubcommands\r\n%1\r\n$12\r\nmemory|usage\r\n%5\r\n');
    expect(text).toContain('$5\r\ntoken\r\n$7\r\nSAMPLES\r\n$5\r\nflags\r\n*1\r\n+optional\r\n');
    expect(text).toContain('$3\r\nget\r\n%5\r\n');
    expect(commandDocs(['nosuch'], served, 3).toString()).toBe('%0\r\n');
    expect(commandDocs(['nosuch'], served, 2).toString()).toBe('*0\r\n');
    // A documented name that is not served is left out too.
    expect(commandDocs(['set'], served, 2).toString()).toBe('*0\r\n');
  });

  test('no names: every command served, once each', () => {
    const text = commandDocs([], RESP_COMMANDS, 2).toString('latin1');
    expect(text.startsWith(`*${2 * RESP_COMMANDS.size}\r\n`)).toBe(true);
  });
});
