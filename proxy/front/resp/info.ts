import os from 'node:os';
import type { TopologySnapshot } from '../../../shared/topology/snapshot';
import type { RespStats } from './context';

/**
 * The text of INFO: Redis's `# Section` / `field:value` lines, CR LF separated. Pure: every
 * figure comes from `InfoFacts`.
 *
 * - server: the Redis version followed, process, port and uptime;
 * - clients / stats: this listener's connections, commands and reads (hits and misses counted
 *   by the RESP front of this proxy only);
 * - keyspace: shardcache's figures instead of Redis's per-database key counts, which the proxy
 *   does not have: the connection's namespace, shards, shards without a primary, live nodes and
 *   the topology revision the proxy routes by.
 */
export interface InfoFacts {
  redisVersion: string;
  port: number;
  uptimeSeconds: number;
  namespace: string;
  stats: RespStats;
  snapshot: TopologySnapshot | undefined;
}

/** The sections INFO knows, in the order it prints them. */
export const INFO_SECTIONS = ['server', 'clients', 'stats', 'keyspace'] as const;
type Section = (typeof INFO_SECTIONS)[number];

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
      return [['connected_clients', f.stats.connected]];
    case 'stats':
      return [
        ['total_connections_received', f.stats.connectionsTotal], ['total_commands_processed', f.stats.commands],
        ['total_error_replies_protocol', f.stats.protocolErrors], ['keyspace_hits', f.stats.hits], ['keyspace_misses', f.stats.misses],
      ];
    case 'keyspace':
      return keyspaceLines(f);
  }
}

function keyspaceLines(f: InfoFacts): Lines {
  const s = f.snapshot;
  const shards = s === undefined ? [] : [...s.shards.values()];
  return [
    ['shardcache_namespace', f.namespace], ['shardcache_shards', shards.length],
    ['shardcache_shards_without_primary', shards.filter((v) => v.primary === undefined).length],
    ['shardcache_live_nodes', s?.liveNodes.size ?? 0], ['shardcache_topology_revision', s?.revision ?? 0],
  ];
}

/**
 * The sections asked for: none, `all`, `everything` or `default` mean every section; unknown
 * names are skipped (an unknown section alone gives an empty text, as Redis answers).
 */
export function infoText(facts: InfoFacts, asked: readonly string[]): string {
  const wanted = asked.map((a) => a.toLowerCase());
  const every = wanted.length === 0 || wanted.some((w) => w === 'all' || w === 'everything' || w === 'default');
  const sections = INFO_SECTIONS.filter((s) => every || wanted.includes(s));
  const title = (s: Section): string => `# ${s[0].toUpperCase()}${s.slice(1)}`;
  const blocks = sections.map((s) => [title(s), ...sectionLines(s, facts).map(([k, v]) => `${k}:${v}`)].join('\r\n'));
  return blocks.length === 0 ? '' : `${blocks.join('\r\n\r\n')}\r\n`;
}
