import { Option, type Command } from 'commander';
import { intIn } from '../../shared/config';
import { colourWanted } from './colour';
import { withConnection, type ConnectionOptions } from './options';
import { consoleOutput, runWithEtcd, type Session } from './run';
import { NodeClients } from '../rebalance/node-client';
import { clusterStatus } from '../commands/status';
import { peerAccessFromEnv } from '../../shared/peer-flags';
import { adminAuthorization, type AdminCredentialFlags } from '../sample/admin-credentials';
import { ClusterSampler, type ClusterFrame } from '../sample/sampler';
import { keyAction, renderTop, screenText } from './top-view';

/** Escape sequences of the interactive view. */
const ENTER = '\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J'; // alternate screen, cursor hidden, cleared
const LEAVE = '\x1b[?25h\x1b[?1049l'; // cursor shown, alternate screen left

/** The terminal the interactive view runs on (process.stdin/stdout; tests pass fakes). */
export interface TopTerminal {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
  stdout: { write(text: string): unknown; columns?: number; rows?: number };
  /** Where SIGINT is heard (absent: no signal handler; raw mode turns Ctrl-C into a key anyway). */
  signals?: NodeJS.EventEmitter;
}

export interface InteractiveOptions {
  intervalMs: number;
  /** The next frame; a rejection is shown on screen and the last good frame stays. */
  next(): Promise<ClusterFrame>;
  render(frame: ClusterFrame, error?: string): string;
}

/**
 * The live view: enters the alternate screen (cursor hidden, stdin raw when it is a terminal),
 * draws a frame now and one every `intervalMs` after the previous one is drawn, and resolves when
 * a quit key comes (q, Ctrl-C, Ctrl-D), stdin ends or SIGINT arrives; the terminal is restored
 * (raw mode off, cursor shown, alternate screen left) whatever happens, also on an exception.
 */
export function runInteractive(term: TopTerminal, options: InteractiveOptions): Promise<void> {
  const { stdin, stdout } = term;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let drawing = false;
    let again = false;
    let last: ClusterFrame | undefined;
    const restore = (): void => {
      if (raw) stdin.setRawMode!(false);
      stdout.write(LEAVE);
    };
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      stdin.off('data', onData);
      stdin.off('end', stop);
      term.signals?.off('SIGINT', stop);
      process.off('exit', restore);
      stdin.pause();
      restore();
      resolve();
    };
    const draw = async (): Promise<void> => {
      if (stopped) return;
      if (drawing) {
        again = true;
        return;
      }
      drawing = true;
      clearTimeout(timer);
      let text: string | undefined;
      try {
        last = await options.next();
        text = options.render(last);
      } catch (err) {
        const error = String((err as Error)?.message ?? err).split('\n')[0];
        text = last ? options.render(last, error) : `shardctl top: refresh failed: ${error} (retrying; q to quit)`;
      }
      drawing = false;
      if (stopped) return;
      stdout.write(screenText(text, stdout.columns, stdout.rows));
      if (again) {
        again = false;
        void draw();
      } else timer = setTimeout(() => void draw(), options.intervalMs);
    };
    const onData = (chunk: Buffer | string): void => {
      const action = keyAction(chunk);
      if (action === 'quit') stop();
      else if (action === 'refresh') void draw();
    };
    stdout.write(ENTER);
    if (raw) stdin.setRawMode!(true);
    // A crash between here and stop must not leave the terminal raw and blank.
    process.once('exit', restore);
    stdin.on('data', onData);
    stdin.once('end', stop);
    term.signals?.once('SIGINT', stop);
    stdin.resume();
    void draw();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `--proxy` values: admin addresses, comma-separated (`host:port` or a URL). */
function parseProxies(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

interface TopOptions extends ConnectionOptions, AdminCredentialFlags {
  interval: number;
  once: boolean;
  proxy?: string[];
  json: boolean;
}

/** `shardctl top`: the live view of the cluster, or one snapshot (`--once`, or stdout not a terminal). */
export function addTopCommand(program: Command, session: Session, terminal?: TopTerminal): void {
  const io = session.io;
  withConnection(program.command('top'))
    .description('live view of the cluster: per node ops/s, hit ratio, memory, items, evictions/s, replication lag; per proxy requests/s and error rate; hot keys (q or Ctrl-C quits)')
    .addOption(new Option('--interval <ms>', 'refresh interval in ms (100-60000)').argParser(intIn(100, 60_000)).default(1000))
    .option('--once', 'print one snapshot (rates over one --interval) and exit; the default when stdout is not a terminal', false)
    .addOption(new Option('--proxy <host:port>', 'admin address of a proxy to show (repeat or comma-separate; env SHARDCACHE_PROXY_ADMIN)').argParser(parseProxies))
    .option('--admin-user <name>', 'with auth on: the user (admin on "*") sent to the proxies\' admin ports (env SHARDCACHE_ADMIN_USER; default admin when a password is given)')
    .option('--admin-password-file <path>', 'with auth on: its password, first line of this file (env SHARDCACHE_ADMIN_PASSWORD_FILE, or the password in SHARDCACHE_ADMIN_PASSWORD)')
    .addHelpText('after', '\nNode figures come from each registered node\'s STATS (set $SHARDCACHE_CLUSTER_SECRET(_FILE) and $SHARDCACHE_NODE_TLS_* as for rebalance);\nproxies do not register in etcd, so name their admin ports with --proxy; with auth on, they want an admin (--admin-user, --admin-password-file).')
    .action(async (opts: TopOptions) => {
      const proxies = opts.proxy ?? parseProxies(process.env.SHARDCACHE_PROXY_ADMIN ?? '');
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const proxyAuthorization = adminAuthorization(opts);
        const sampler = new ClusterSampler(() => clusterStatus(ctx), proxies, { nodes: new NodeClients(peerAccessFromEnv()), proxyAuthorization });
        try {
          const term = terminal ?? (io === consoleOutput ? { stdin: process.stdin, stdout: process.stdout, signals: process } : undefined);
          const interactive = !opts.once && !opts.json && term !== undefined && (term.stdout as { isTTY?: boolean }).isTTY === true;
          if (!interactive) {
            // Rates need two reads: the snapshot is the second, one interval after the first.
            await sampler.next();
            await sleep(opts.interval);
            const frame = await sampler.next();
            io.out(opts.json ? JSON.stringify(frame, null, 2) : renderTop(frame, { colour: io.colour === true }));
            return;
          }
          const colour = colourWanted(term.stdout as { isTTY?: boolean });
          // The first read before the screen changes: an unreachable etcd or a cluster not
          // initialised ends the command with its exit status, as for `status`.
          let first: ClusterFrame | undefined = await sampler.next();
          await runInteractive(term, {
            intervalMs: opts.interval,
            next: async () => {
              const frame = first ?? (await sampler.next());
              first = undefined;
              return frame;
            },
            render: (frame, error) => renderTop(frame, { colour, interactive: true, intervalMs: opts.interval, error }),
          });
        } finally {
          await sampler.close();
        }
      });
    });
}
