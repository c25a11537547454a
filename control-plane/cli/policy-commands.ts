import { Option, type Command } from 'commander';
import { intIn, oneOf, parseBytes } from '../../shared/config';
import { addHotKey, listHotKeys, removeHotKey, type HotKeyMode } from '../commands/hotkeys';
import { getNamespace, listNamespaces, removeNamespace, setNamespace, type PolicyPatch } from '../commands/namespaces';
import { checkPolicyRegions, regionNames } from '../commands/regions';
import { numberIn, parseUrl } from '../flags';
import { withConnection, type ConnectionOptions } from './options';
import { formatHotKeys, formatNamespaces } from './print';
import { runWithEtcd, type Session } from './run';
import { addFlushCommands, parseStoreBulkUrl, parseStoreUrl, WRITE_POLICIES, type WritePolicy } from './write-policy-commands';

const TEN_YEARS = 10 * 365 * 86400;

interface NsSetFlags {
  defaultTtl?: number;
  maxItemBytes?: number;
  quotaBytes?: number;
  eviction?: 'lru' | 'lfu';
  writeAck?: 'primary' | 'replica';
  readPreference?: 'primary' | 'replica';
  ttlJitter?: number;
  origin?: string;
  staleWhileRevalidate?: number;
  negativeTtl?: number;
  fillLeaseMs?: number;
  fillWaitMs?: number;
  originTimeoutMs?: number;
  earlyRefreshBeta?: number;
  qpsLimit?: number;
  hotKeyAutoQps?: number;
  hotKeyAutoMode?: HotKeyMode;
  hotKeyAutoCopies?: number;
  writePolicy?: WritePolicy;
  store?: string;
  storeBulkUrl?: string;
  storeTimeoutMs?: number;
  writeBehindDelayMs?: number;
  writeBehindBatch?: number;
  writeBehindMaxQueue?: number;
  writeBehindMaxAttempts?: number;
  replicated?: 'local' | 'invalidate';
  regions?: string[];
}

/** `--regions a,b`: region names, comma-separated (checked against the peers when the command runs). */
export function parseRegionList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Maps `ns set` flags to the policy fields they set (absent flags leave a field as stored). */
function patchOf(flags: NsSetFlags): PolicyPatch {
  return {
    defaultTtlSeconds: flags.defaultTtl,
    maxItemBytes: flags.maxItemBytes,
    quotaBytes: flags.quotaBytes,
    eviction: flags.eviction,
    writeAck: flags.writeAck,
    readPreference: flags.readPreference,
    ttlJitterPct: flags.ttlJitter,
    origin: flags.origin,
    staleWhileRevalidateSeconds: flags.staleWhileRevalidate,
    negativeTtlSeconds: flags.negativeTtl,
    fillLeaseMs: flags.fillLeaseMs,
    fillWaitMs: flags.fillWaitMs,
    originTimeoutMs: flags.originTimeoutMs,
    earlyRefreshBeta: flags.earlyRefreshBeta,
    qpsLimit: flags.qpsLimit,
    hotKeyAutoQps: flags.hotKeyAutoQps,
    hotKeyAutoMode: flags.hotKeyAutoMode,
    hotKeyAutoCopies: flags.hotKeyAutoCopies,
    writePolicy: flags.writePolicy,
    store: flags.store,
    storeBulkUrl: flags.storeBulkUrl,
    storeTimeoutMs: flags.storeTimeoutMs,
    writeBehindDelayMs: flags.writeBehindDelayMs,
    writeBehindBatch: flags.writeBehindBatch,
    writeBehindMaxQueue: flags.writeBehindMaxQueue,
    writeBehindMaxAttempts: flags.writeBehindMaxAttempts,
    replicated: flags.replicated,
    regions: flags.regions,
  };
}

/** `ns set|get|list|rm`: namespace policies. */
export function addNamespaceCommands(program: Command, session: Session): void {
  const io = session.io;
  const ns = program.command('ns').description('namespace policies');
  withConnection(ns.command('set <namespace>'))
    .description('create or update a namespace policy; flags not given keep their stored value')
    .option('--default-ttl <seconds>', 'default TTL of items (0 = none)', intIn(0, TEN_YEARS))
    .option('--max-item-bytes <bytes>', 'largest item, e.g. 1mb', parseBytes)
    .option('--quota-bytes <bytes>', 'memory quota of the namespace per node, e.g. 512mb', parseBytes)
    .addOption(new Option('--eviction <policy>', 'lru or lfu').argParser(oneOf('lru', 'lfu')))
    .addOption(new Option('--write-ack <who>', 'acknowledge writes after the primary or also a replica').argParser(oneOf('primary', 'replica')))
    .addOption(new Option('--read-preference <where>', 'read from the primary or allow a replica').argParser(oneOf('primary', 'replica')))
    .option('--ttl-jitter <pct>', 'random TTL jitter in percent (0-100)', numberIn(0, 100))
    .option('--origin <url>', 'origin URL template for read-through loads, e.g. http://host:port/items/{key}', parseUrl)
    .option('--stale-while-revalidate <seconds>', 'serve a stale value this long after the TTL while one refresh runs (0-65535)', intIn(0, 65_535))
    .option('--negative-ttl <seconds>', 'cache origin 404s this long (0-86400, 0 = not cached)', intIn(0, 86_400))
    .option('--fill-lease-ms <ms>', 'how long one loader may hold a key\'s fill lease (100-60000)', intIn(100, 60_000))
    .option('--fill-wait-ms <ms>', 'how long a miss waits for another loader\'s fill (0-60000)', intIn(0, 60_000))
    .option('--origin-timeout-ms <ms>', 'deadline of one origin request (10-60000)', intIn(10, 60_000))
    .option('--early-refresh-beta <beta>', 'probabilistic early refresh, XFetch beta (0-10, 0 = off)', numberIn(0, 10))
    .option('--qps-limit <n>', 'requests per second for the whole namespace, shared by the proxies', intIn(1, 100_000_000))
    .option('--hot-key-auto-qps <n>', 'promote keys read more than n times a second (per proxy) to auto hot-key rules', intIn(1, 10_000_000))
    .addOption(new Option('--hot-key-auto-mode <mode>', 'mode of auto rules: near-cache, replica-spread or copies').argParser(oneOf<HotKeyMode>('near-cache', 'replica-spread', 'copies')))
    .option('--hot-key-auto-copies <k>', 'K of auto rules in mode copies (default 3)', intIn(2, 16))
    .addOption(new Option('--write-policy <policy>', 'cache-aside (the app writes the store), write-through or write-behind (the shard\'s primary writes the store)').argParser(oneOf<WritePolicy>(...WRITE_POLICIES)))
    .option('--store <url>', 'store URL template for write-through/write-behind, e.g. http://db-api:8080/items/{key} (default: --origin)', parseStoreUrl)
    .option('--store-bulk-url <url>', 'the store\'s bulk endpoint: write-behind batches, and write-through writes of one turn together, e.g. http://db-api:8080/items/_bulk', parseStoreBulkUrl)
    .option('--store-timeout-ms <ms>', 'deadline of one store request (10-60000, default 2000)', intIn(10, 60_000))
    .option('--write-behind-delay-ms <ms>', 'flush a written key after this long, or sooner when a batch fills (0-3600000, default 1000)', intIn(0, 3_600_000))
    .option('--write-behind-batch <n>', 'keys per store batch (1-10000, default 500)', intIn(1, 10_000))
    .option('--write-behind-max-queue <n>', 'unflushed keys per shard before new keys are refused with WRITE_QUEUE_FULL (1-10000000, default 100000)', intIn(1, 10_000_000))
    .option('--write-behind-max-attempts <n>', 'store attempts of one key before it becomes a dead letter (0-1000000; 0, the default: retry for ever)', intIn(0, 1_000_000))
    .addOption(new Option('--replicated <mode>', 'regions: local (writes stay in this region) or invalidate (every write invalidates the key in the peer regions)').argParser(oneOf('local', 'invalidate')))
    .option('--regions <names>', 'with --replicated invalidate: the peer regions that get this namespace\'s invalidations, comma-separated (default: every peer)', parseRegionList)
    .action(async (namespace: string, opts: ConnectionOptions & NsSetFlags) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        if (opts.regions !== undefined) {
          const { peers, self } = await regionNames(ctx);
          const checked = checkPolicyRegions(opts.regions, peers, self);
          opts.regions = checked.regions;
          for (const warning of checked.warnings) io.err(`shardctl: warning: ${warning}`);
        }
        const { policy, created } = await setNamespace(ctx, namespace, patchOf(opts));
        if (opts.regions !== undefined && policy.replicated !== 'invalidate') io.err(`shardctl: warning: --regions takes effect with --replicated invalidate; namespace ${namespace} is ${policy.replicated ?? 'local'}`);
        io.out(`${created ? 'created' : 'updated'} namespace ${namespace}: ${JSON.stringify(policy)}`);
      });
    });
  withConnection(ns.command('get <namespace>'))
    .description('print the policy of a namespace as JSON')
    .action(async (namespace: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        io.out(JSON.stringify(await getNamespace(ctx, namespace), null, 2));
      });
    });
  withConnection(ns.command('list'))
    .description('every namespace policy')
    .action(async (opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const entries = await listNamespaces(ctx);
        io.out(opts.json ? JSON.stringify(entries, null, 2) : formatNamespaces(entries));
      });
    });
  withConnection(ns.command('rm <namespace>'))
    .description('remove the policy of a namespace')
    .action(async (namespace: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        await removeNamespace(ctx, namespace);
        io.out(`removed the policy of namespace ${namespace}`);
      });
    });
  addFlushCommands(ns, session);
}

/** `hotkey add|rm|list`: hot-key rules. */
export function addHotKeyCommands(program: Command, session: Session): void {
  const io = session.io;
  const hotkey = program.command('hotkey').description('hot-key rules');
  withConnection(hotkey.command('add <namespace> <key>'))
    .description('add or replace the rule for a hot key')
    .addOption(new Option('--mode <mode>', 'near-cache, replica-spread or copies').argParser(oneOf<HotKeyMode>('near-cache', 'replica-spread', 'copies')).makeOptionMandatory())
    .option('--copies <k>', 'copies on other shards, with --mode copies (2-16)', intIn(2, 16))
    .option('--ttl-ms <ms>', 'near-cache TTL in the proxies, with --mode near-cache (1-60000)', intIn(1, 60_000))
    .option('--expires-in <seconds>', 'the rule lapses after this long', intIn(1, TEN_YEARS))
    .action(async (namespace: string, key: string, opts: ConnectionOptions & { mode: HotKeyMode; copies?: number; ttlMs?: number; expiresIn?: number }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const rule = await addHotKey(ctx, namespace, key, { mode: opts.mode, copies: opts.copies, ttlMs: opts.ttlMs, expiresInSeconds: opts.expiresIn });
        io.out(`hot key ${namespace}/${key}: ${JSON.stringify(rule)}`);
      });
    });
  withConnection(hotkey.command('rm <namespace> <key>'))
    .description('remove the rule for a hot key')
    .action(async (namespace: string, key: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        await removeHotKey(ctx, namespace, key);
        io.out(`removed the hot-key rule for ${namespace}/${key}`);
      });
    });
  withConnection(hotkey.command('list [namespace]'))
    .description('hot-key rules, of every namespace or of one')
    .action(async (namespace: string | undefined, opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const entries = await listHotKeys(ctx, namespace);
        io.out(opts.json ? JSON.stringify(entries, null, 2) : formatHotKeys(entries));
      });
    });
}
