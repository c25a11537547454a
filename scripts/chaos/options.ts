import { Command, InvalidArgumentError, Option } from 'commander';
import { intIn, oneOf, parsePort } from '../../shared/config';
import type { Profile } from './schedule';

/** Flags of `npm run chaos` (scripts/chaos/main.ts). */
export interface ChaosOptions {
  profile: Profile;
  /** Seconds of faults (long) or an upper bound of the whole run (ci). */
  duration?: number;
  seed: number;
  /** Hard limit of the whole run in seconds (default: the fault phase + 180). */
  maxSeconds?: number;
  leaseTtl: number;
  portBase: number;
  shards: number;
  replicas: number;
  proxies: number;
  workers: number;
  rate: number;
  ballastKeys: number;
  /** After the faults: add a spare shard and rebalance, then remove it, with faults during the copies and cut-overs. */
  rebalance: boolean;
  /**
   * TLS on every link (a throwaway CA in `<data dir>/tls`): etcd with client certificates, the
   * proxies' client ports (the load speaks wss://), node links with mutual TLS; and a random cluster
   * secret every node link proves.
   */
  tls: boolean;
  /**
   * The write-behind namespace `wb` with the harness's own store, which fails and goes down on a
   * cycle (scripts/chaos/write-behind.ts); on unless `--no-write-behind`, never with `--external`.
   */
  writeBehind: boolean;
  /**
   * The region scenario instead of the fault schedule (scripts/chaos/regions.ts): two regions, a
   * relay between them the harness cuts, restarts of a region's nodes and proxies, the staleness
   * bound and convergence after each restore checked. Ports: --port-base and the next 20.
   */
  regions: boolean;
  reportJson?: string;
  historyJson?: string;
  dataDir?: string;
  printSchedule: boolean;
  /** External mode: a cluster started elsewhere (compose); faults are applied by someone else. */
  external: boolean;
  proxyUrls?: string[];
  etcd?: string;
  cluster: string;
  nodeAdmins?: Array<{ nodeId: string; shard: number; adminUrl: string }>;
  faultsLog?: string;
}

/** `http://127.0.0.1:8080,http://127.0.0.1:8081`: loopback URLs only, the harness never targets another host. */
function parseLoopbackUrls(text: string): string[] {
  return text.split(',').map((part) => {
    let url: URL;
    try {
      url = new URL(part.trim());
    } catch {
      throw new InvalidArgumentError('expected http://127.0.0.1:PORT[,http://127.0.0.1:PORT...]');
    }
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new InvalidArgumentError('the chaos harness targets 127.0.0.1 only');
    return url.origin;
  });
}

/** `node-s0-a@0=http://127.0.0.1:9200,...`: each node's id, shard and admin URL. */
function parseNodeAdmins(text: string): Array<{ nodeId: string; shard: number; adminUrl: string }> {
  return text.split(',').map((part) => {
    const match = /^([A-Za-z0-9_.-]+)@(\d+)=(.+)$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError('expected NODE_ID@SHARD=http://127.0.0.1:PORT[,...]');
    return { nodeId: match[1], shard: Number(match[2]), adminUrl: parseLoopbackUrls(match[3])[0] };
  });
}

function parseLoopbackEtcd(text: string): string {
  const match = /^(127\.0\.0\.1|localhost):(\d{1,5})$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError('expected 127.0.0.1:PORT');
  return `127.0.0.1:${parsePort(match[2])}`;
}

/** Parses the harness's flags; a bad value exits with status 1 naming the flag. */
export function parseChaosOptions(argv: readonly string[]): ChaosOptions {
  const program = new Command('chaos')
    .description('shardcache chaos harness: a whole cluster as processes, load with a checker, faults on a schedule, a report')
    .addOption(new Option('--profile <name>', 'ci: every fault once (about 1-2 min); long: rounds of every fault for --duration').argParser(oneOf('ci', 'long')).default('ci'))
    .addOption(new Option('--duration <seconds>', 'long: seconds of faults (default 600); ci: upper bound of the fault phase').argParser(intIn(10, 86_400)))
    .addOption(new Option('--seed <n>', 'seed of the fault schedule').argParser(intIn(0, 2 ** 31 - 1)).default(1))
    .addOption(new Option('--max-seconds <s>', 'hard limit of the whole run: past it, every program is stopped and the exit status is 2 (default: fault phase + 180)').argParser(intIn(30, 90_000)))
    .addOption(new Option('--lease-ttl <seconds>', 'lease TTL of the nodes').argParser(intIn(2, 60)).default(2))
    .addOption(new Option('--port-base <port>', 'first of the consecutive ports the cluster uses on 127.0.0.1').argParser(parsePort).default(21000))
    .addOption(new Option('--shards <n>', 'shards').argParser(intIn(1, 16)).default(3))
    .addOption(new Option('--replicas <r>', 'replicas per shard besides the primary').argParser(intIn(1, 4)).default(2))
    .addOption(new Option('--proxies <n>', 'proxies').argParser(intIn(1, 4)).default(2))
    .addOption(new Option('--workers <n>', 'load workers (WebSocket clients), spread over the proxies').argParser(intIn(1, 64)).default(4))
    .addOption(new Option('--rate <ops>', 'target requests per second of the whole load').argParser(intIn(10, 100_000)).default(400))
    .addOption(new Option('--ballast-keys <n>', 'keys of 512 bytes written first, so a full sync takes a while').argParser(intIn(0, 1_000_000)).default(30_000))
    .option('--rebalance', 'after the faults: add a spare shard and rebalance, then remove it, killing source and target primaries, the control plane and etcd during copies and cut-overs', false)
    .option('--tls', 'TLS everywhere (a throwaway CA in <data dir>/tls): etcd with client certificates, HTTPS/WSS on the proxies (the load uses wss://), mutual TLS on every node link, and a random cluster secret', false)
    .option('--no-write-behind', 'leave out the write-behind namespace wb, its store (on the port after the cluster\'s) and the store\'s faults')
    .option('--regions', 'run the region scenario instead (scripts/chaos/regions.ts): regions a and b, a relay from a to b cut and restored, a\'s and b\'s nodes and proxies restarted; checks b\'s staleness behind a and convergence after each restore (about 60 s; ports --port-base..+20)', false)
    .option('--report-json <file>', 'also write the verdicts as JSON')
    .option('--history-json <file>', 'also write every recorded operation as JSON')
    .option('--data-dir <dir>', 'keep etcd data and logs here (default: a temporary dir removed on success)')
    .option('--print-schedule', 'print the fault schedule (kind target role gapMs per line) and exit', false)
    .option('--external', 'check a cluster started elsewhere (compose): no programs started, no faults injected', false)
    .addOption(new Option('--proxy-urls <urls>', 'external: proxy client URLs, http://127.0.0.1:PORT,...').argParser(parseLoopbackUrls))
    .addOption(new Option('--etcd <host:port>', 'external: etcd client endpoint on 127.0.0.1').argParser(parseLoopbackEtcd))
    .option('--cluster <name>', 'cluster name', 'chaos')
    .addOption(new Option('--node-admins <list>', 'external: NODE_ID@SHARD=http://127.0.0.1:PORT,... of every storage node').argParser(parseNodeAdmins))
    .option('--faults-log <file>', 'external: JSON lines of the faults applied (written by chaos-compose.sh), read at the end')
    .allowExcessArguments(false)
    .parse(argv, { from: 'user' });
  const opts = program.opts<ChaosOptions>();
  if (opts.external && (!opts.proxyUrls || !opts.etcd || !opts.nodeAdmins)) program.error('error: --external needs --proxy-urls, --etcd and --node-admins');
  if (opts.external && opts.tls) program.error('error: --tls starts a cluster over TLS; it does not go with --external (compose.yaml runs plain)');
  return opts;
}
