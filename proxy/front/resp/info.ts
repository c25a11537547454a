import os from 'node:os';
import type { TopologySnapshot } from '../../../shared/topology/snapshot';
import type { RespStats } from './context';

/**
 * The text of INFO: Redis's `# Section` / `field:value` lines, CR LF separated. Pure: every
 * figure comes from `InfoFacts`.
 *
 * - server: the Redis version followed, process, port and uptime (no `executable` or
 *   `config_file`: paths of the proxy's host are not a client's business);
 * - clients / stats: this listener's connections, commands and reads (hits and misses counted
 *   by the RESP front of this proxy only), its command rate and refused connections;
 * - memory: the accounted bytes and memory limits of every live storage node, added up (their
 *   STATS), since the data lives there and not in the proxy;
 * - replication: the proxy's view (a client talks to one endpoint that takes writes: a master
 *   without replicas; the nodes' own replication is not a Redis replication);
 * - cpu: the proxy process's own CPU time;
 * - keyspace: Redis's `db0:keys=N,expires=M,avg_ttl=0` line for the connection's namespace (its
 *   DBSIZE and, of those keys, the ones with an expiry, added up over the shards; printed only when
 *   the namespace has keys, as Redis prints a database's line), then shardcache's figures: the
 *   connection's namespace, shards, shards without a primary, live nodes and the topology revision
 *   the proxy routes by.
 */
export interface InfoFacts {
  redisVersion: string;
  port: number;
  uptimeSeconds: number;
  namespace: string;
  stats: RespStats;
  snapshot: TopologySnapshot | undefined;
  maxClients: number;
  /** Commands per second, recently (OpsRate). */
  opsPerSec: number;
  /** The process's CPU time, µs (process.cpuUsage()). */
  cpu: { user: number; system: number };
  /** The nodes' memory figures; asked for only when INFO prints the memory section (`infoSections`). */
  memory?: MemoryFigures;
  /** The namespace's key counts; asked for only when INFO prints the keyspace section (absent: no `db0` line). */
  keyspace?: KeyspaceFigures;
}

/** The connection's namespace over every shard (DBSIZE's figures). */
export interface KeyspaceFigures {
  keys: number;
  /** Of `keys`, those with an expiry; undefined when a node did not tell (one older than the figure): printed as 0. */
  expires: number | undefined;
}

/** The storage nodes' memory, added up over those that answered STATS. */
export interface MemoryFigures {
  usedBytes: number;
  maxBytes: number;
  nodes: number;
  /** Live nodes that did not answer (their bytes are missing from the sums). */
  failed: number;
}

/** The sections INFO knows, in the order it prints them (Redis's order). */
export const INFO_SECTIONS = ['server', 'clients', 'memory', 'stats', 'replication', 'cpu', 'keyspace'] as const;
type Section = (typeof INFO_SECTIONS)[number];

/**
 * The sections asked for: none, `all`, `everything` or `default` mean every section; unknown
 * names are skipped.
 */
export function infoSections(asked: readonly string[]): Section[] {
  const wanted = asked.map((a) => a.toLowerCase());
  const every = wanted.length === 0 || wanted.some((w) => w === 'all' || w === 'everything' || w === 'default');
  return INFO_SECTIONS.filter((s) => every || wanted.includes(s));
}

/** Bytes as Redis's `*_human` fields print them: `512B`, `1.50K`, `2.00M`, ... */
export function bytesToHuman(n: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (n < 1024) return `${n}B`;
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)}${units[unit]}`;
}

const cpuSeconds = (micros: number): string => (micros / 1e6).toFixed(6);

type Lines = Array<[string, string | number]>;

function sectionLines(section: Section, f: InfoFacts): Lines {
  switch (section) {
    case 'server':
      return [
        ['redis_version', f.redisVersion], ['redis_mode', 'standalone'], ['os', `${os.type()} ${os.release()} ${os.arch()}`],
        ['arch_bits', 64], ['process_id', process.pid], ['tcp_port', f.port], ['uptime_in_seconds', f.uptimeSeconds],
        ['uptime_in_days', Math.floor(f.uptimeSeconds / 86_400)], ['shardcache_front', 'resp'],
      ];
    case 'clients':
      return [['connected_clients', f.stats.connected], ['maxclients', f.maxClients], ['blocked_clients', 0]];
    case 'memory': {
      const m = f.memory ?? { usedBytes: 0, maxBytes: 0, nodes: 0, failed: 0 };
      return [
        ['used_memory', m.usedBytes], ['used_memory_human', bytesToHuman(m.usedBytes)], ['maxmemory', m.maxBytes], ['maxmemory_human', bytesToHuman(m.maxBytes)],
        ['shardcache_memory_nodes', m.nodes], ['shardcache_memory_nodes_failed', m.failed],
      ];
    }
    case 'stats':
      return [
        ['total_connections_received', f.stats.connectionsTotal], ['total_commands_processed', f.stats.commands], ['instantaneous_ops_per_sec', f.opsPerSec],
        ['rejected_connections', f.stats.rejected], ['total_error_replies_protocol', f.stats.protocolErrors], ['keyspace_hits', f.stats.hits],
        ['keyspace_misses', f.stats.misses],
      ];
    case 'replication':
      return [['role', 'master'], ['connected_slaves', 0]];
    case 'cpu':
      return [['used_cpu_sys', cpuSeconds(f.cpu.system)], ['used_cpu_user', cpuSeconds(f.cpu.user)], ['used_cpu_sys_children', cpuSeconds(0)], ['used_cpu_user_children', cpuSeconds(0)]];
    case 'keyspace':
      return keyspaceLines(f);
  }
}

function keyspaceLines(f: InfoFacts): Lines {
  const s = f.snapshot;
  const shards = s === undefined ? [] : [...s.shards.values()];
  const k = f.keyspace;
  // Redis prints a database's line only when it holds keys; avg_ttl is not kept (Redis's own is an estimate).
  const db: Lines = k !== undefined && k.keys > 0 ? [['db0', `keys=${k.keys},expires=${Math.min(k.expires ?? 0, k.keys)},avg_ttl=0`]] : [];
  return [
    ...db,
    ['shardcache_namespace', f.namespace], ['shardcache_shards', shards.length],
    ['shardcache_shards_without_primary', shards.filter((v) => v.primary === undefined).length],
    ['shardcache_live_nodes', s?.liveNodes.size ?? 0], ['shardcache_topology_revision', s?.revision ?? 0],
  ];
}

/** The text of the sections asked for (`infoSections`; an unknown section alone gives an empty text, as Redis answers). */
export function infoText(facts: InfoFacts, asked: readonly string[]): string {
  const sections = infoSections(asked);
  const title = (s: Section): string => `# ${s[0].toUpperCase()}${s.slice(1)}`;
  const blocks = sections.map((s) => [title(s), ...sectionLines(s, facts).map(([k, v]) => `${k}:${v}`)].join('\r\n'));
  return blocks.length === 0 ? '' : `${blocks.join('\r\n\r\n')}\r\n`;
}
