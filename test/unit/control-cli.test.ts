import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { colourWanted, paintStatus } from '../../control-plane/cli/colour';
import { completionScript, completionTree } from '../../control-plane/cli/completion';
import { buildProgram } from '../../control-plane/cli/shardctl';
import { shardctlInProcess } from '../helpers/shardctl';

const program = () => buildProgram({ io: { out: () => undefined, err: () => undefined }, status: 0 });
const TOP_LEVEL = ['init', 'status', 'node', 'failover', 'ns', 'hotkey', 'shard', 'rebalance', 'migrate', 'migrations', 'migration', 'user', 'auth', 'region', 'top', 'completion'];

describe('colour', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };

  test('on a terminal only; NO_COLOR (any non-empty value) wins; FORCE_COLOR forces', () => {
    expect(colourWanted(tty, {})).toBe(true);
    expect(colourWanted(pipe, {})).toBe(false);
    expect(colourWanted({}, {})).toBe(false);
    expect(colourWanted(tty, { TERM: 'dumb' })).toBe(false);
    expect(colourWanted(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted(tty, { NO_COLOR: 'false' })).toBe(false);
    expect(colourWanted(tty, { NO_COLOR: '' })).toBe(true);
    expect(colourWanted(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourWanted(pipe, { FORCE_COLOR: '' })).toBe(true);
    expect(colourWanted(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(colourWanted(tty, { FORCE_COLOR: 'false' })).toBe(false);
    expect(colourWanted(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
  });

  test('status health words: coloured in place, columns unmoved; untouched when off', () => {
    const text = [
      'cluster c  revision 7  shards 2  replicas 0  lease ttl 3s  slot map epoch 1',
      '',
      'SHARD  SLOTS    PRIMARY  HEALTH',
      '0      0-8191   n0       ok',
      '1      8192-16383  -     UNHEALTHY',
      '',
      'no nodes registered',
      '',
      'shard 1 unhealthy: no primary',
    ].join('\n');
    expect(paintStatus(text, false)).toBe(text);
    const painted = paintStatus(text, true);
    expect(painted).toContain('n0       \x1b[32mok\x1b[39m');
    expect(painted).toContain('-     \x1b[31mUNHEALTHY\x1b[39m');
    expect(painted).toContain('shard 1 \x1b[31munhealthy\x1b[39m: no primary');
    expect(painted.replace(/\x1b\[\d+m/g, '')).toBe(text);
  });
});

describe('completion', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardctl-completion-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the tree is the program\'s: every top-level command, nested ones, their flags and the global ones', () => {
    expect(program().commands.map((c) => c.name())).toEqual(TOP_LEVEL);
    const tree = completionTree(program());
    const words = (p: string) => tree.entries.find((e) => e.path === p)?.words;
    expect(words('')).toEqual(expect.arrayContaining([...TOP_LEVEL, 'help', '--etcd', '--cluster', '--etcd-ca', '--etcd-user', '--etcd-password-file', '--output', '-o', '--json']));
    expect(words('ns')).toEqual(expect.arrayContaining(['set', 'get', 'list', 'rm', '--etcd']));
    expect(words('ns set')).toEqual(expect.arrayContaining(['--default-ttl', '--hot-key-auto-mode', '--etcd', '--cluster', '--output', '--help']));
    expect(words('completion')).toEqual(expect.arrayContaining(['bash', 'zsh']));
    expect(tree.choiceFlags).toContainEqual({ flags: ['-o', '--output'], choices: ['table', 'json'] });
    expect(tree.fileFlags).toEqual(expect.arrayContaining(['--etcd-ca', '--etcd-password-file', '--password-file']));
  });

  test('shardctl completion bash: names every top-level command, bash -n accepts it, and it completes', async () => {
    const r = await shardctlInProcess(['completion', 'bash']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(completionScript(program(), 'bash'));
    for (const name of TOP_LEVEL) expect(r.stdout).toMatch(new RegExp(`\\b${name}\\b`));
    expect(r.stdout).toContain('complete -F _shardctl shardctl');
    const file = path.join(dir, 'shardctl.bash');
    fs.writeFileSync(file, r.stdout);
    const check = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });

    // Run the function as bash would on <TAB>: global flags before the command do not get in the way.
    const complete = (...line: string[]): string => {
      const script = `source ${JSON.stringify(file)}; COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _shardctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const run = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      return run.stdout.trim();
    };
    expect(complete('shardctl', 'mig')).toBe('migrate\nmigrations\nmigration');
    expect(complete('shardctl', '--etcd', 'h:1', '--cluster', 'ns', 'ns', 's')).toBe('set');
    expect(complete('shardctl', 'ns', 'set', 'foo', '--default-')).toBe('--default-ttl');
    expect(complete('shardctl', 'status', '--output', '')).toBe('table\njson');
    expect(complete('shardctl', 'completion', '')).toMatch(/^bash\nzsh\n/);
  });

  test('shardctl completion zsh: a #compdef function naming every top-level command (zsh -n when zsh is here)', async () => {
    const r = await shardctlInProcess(['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^#compdef shardctl\n/);
    for (const name of TOP_LEVEL) expect(r.stdout).toMatch(new RegExp(`\\b${name}\\b`));
    const file = path.join(dir, '_shardctl');
    fs.writeFileSync(file, r.stdout);
    if (spawnSync('zsh', ['--version']).status !== 0) return;
    const check = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('an unknown shell is refused with exit 1', async () => {
    const r = await shardctlInProcess(['completion', 'fish']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("value 'fish' is invalid for argument 'shell'. Allowed choices are bash, zsh.");
  });
});

describe('help', () => {
  test('says that global options go before or after the command and which one wins', async () => {
    const r = await shardctlInProcess(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('given in both places, the one after the command wins');
    expect(r.stdout).toContain('--output table|json (--json = --output json)');
    expect(r.stdout).toMatch(/completion <shell> +print a bash or zsh completion script/);
  });
});
