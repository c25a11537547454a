import { Op, Status, STATUS_NAME } from '../../shared/protocol';
import type { DeadLetter, WritePolicyFigures } from '../../shared/ops';
import { NamespacePolicySchema, parseRecord } from '../../shared/topology/schema';
import type { StatusDocument } from '../status/document';
import { failureText, NotInitialisedError } from '../errors';
import type { CommandContext } from './context';
import { validateNamespaceName } from './namespaces';
import type { NodeClients } from '../rebalance/node-client';
import { clusterStatus } from './status';

/**
 * `shardctl ns flush-status` and `ns flush`: what the write-behind queues of a namespace hold and
 * a forced flush of them (issue 17). Only a shard's primary writes to the store, so a shard's
 * figures are its primary's; its replicas hold a copy of the queue (the one a new primary flushes
 * after a failover), so their depth is shown beside it. The reading (`readFlushStatus`,
 * `flushNamespace`) is kept apart from the pure shaping of answers (`flushStatusReport`,
 * `flushProblems`) so the latter is tested without nodes.
 */

/** How long flush-status waits for each node. */
export const STATUS_DEADLINE_MS = 5000;
/** How long `ns flush` waits past its own timeout for the primaries' answers (the node answers at its timeout). */
export const FLUSH_GRACE_MS = 5000;
/** `ns flush --timeout` default, ms. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;

/** What one node said to WRITE_POLICY_STATUS: its figures for the namespace (null: it has none), or why it did not answer. */
export type NodeAnswer = { figures: WritePolicyFigures | null } | { error: string };

/** One replica in flush-status: its copy of the queue. */
export interface ReplicaDepth {
  nodeId: string;
  depth: number | null;
  error: string | null;
}

/** One shard in flush-status. */
export interface ShardFlushStatus {
  shardId: number;
  primary: string | null;
  /** The primary's figures; null when it has none for the namespace or did not answer (then `error`). */
  figures: WritePolicyFigures | null;
  error: string | null;
  replicas: ReplicaDepth[];
}

/** Figures summed over the shards (`oldestMs`: the largest). */
export type FlushTotals = Pick<WritePolicyFigures, 'depth' | 'bytes' | 'oldestMs' | 'inFlight' | 'flushed' | 'failed' | 'coalesced' | 'refused' | 'deadLetters'>;

/** What `ns flush-status` prints (`--output json` as is). */
export interface FlushStatusReport {
  cluster: string;
  namespace: string;
  /** The namespace's write policy in etcd; null when the namespace has no policy. */
  writePolicy: string | null;
  at: string;
  shards: ShardFlushStatus[];
  totals: FlushTotals;
  /** The primaries' recent dead letters, newest first. */
  deadLetters: Array<DeadLetter & { shardId: number }>;
}

/** One shard's answer to WRITE_POLICY_FLUSH. */
export interface ShardFlushResult {
  shardId: number;
  primary: string | null;
  /** Keys still unflushed when the node answered (0: drained); null without an answer. */
  remaining: number | null;
  deadLetters: number | null;
  error: string | null;
}

/** What `ns flush` prints. */
export interface FlushReport {
  cluster: string;
  namespace: string;
  writePolicy: string | null;
  timeoutMs: number;
  elapsedMs: number;
  /** Every shard answered remaining 0. */
  drained: boolean;
  shards: ShardFlushResult[];
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** A dead letter off the wire, or undefined when it is not one. */
function deadLetterOf(raw: unknown): DeadLetter | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const d = raw as Record<string, unknown>;
  if (typeof d.key !== 'string') return undefined;
  return { key: d.key, version: num(d.version), deleted: d.deleted === true, reason: typeof d.reason === 'string' ? d.reason : '', at: num(d.at) };
}

/**
 * The figures of `namespace` in a WRITE_POLICY_STATUS reply's list (a node answers one entry per
 * namespace with a write policy it knows of), read field by field so a node of another version
 * cannot break the listing; null when the list has none for it.
 */
export function figuresFor(list: unknown, namespace: string): WritePolicyFigures | null {
  if (!Array.isArray(list)) return null;
  const raw = list.find((f) => f !== null && typeof f === 'object' && (f as { namespace?: unknown }).namespace === namespace) as Record<string, unknown> | undefined;
  if (raw === undefined) return null;
  return {
    namespace,
    policy: raw.policy === 'write-through' ? 'write-through' : 'write-behind',
    primary: raw.primary === true,
    depth: num(raw.depth),
    bytes: num(raw.bytes),
    oldestMs: num(raw.oldestMs),
    inFlight: num(raw.inFlight),
    flushed: num(raw.flushed),
    failed: num(raw.failed),
    coalesced: num(raw.coalesced),
    refused: num(raw.refused),
    deadLetters: num(raw.deadLetters),
    recent: Array.isArray(raw.recent) ? raw.recent.map(deadLetterOf).filter((d): d is DeadLetter => d !== undefined) : [],
    lastError: typeof raw.lastError === 'string' ? raw.lastError : null,
  };
}

/** A reply to WRITE_POLICY_STATUS as a node answer. */
export function statusAnswerOf(reply: readonly unknown[], namespace: string): NodeAnswer {
  if (reply[1] === Status.OK) return { figures: figuresFor(reply[2], namespace) };
  return { error: refusal(reply, 'WRITE_POLICY_STATUS') };
}

/** Why a node refused an op, in words. */
function refusal(reply: readonly unknown[], op: string): string {
  if (reply[1] === Status.UNKNOWN_OP) return `the node does not know ${op} (it predates write policies; upgrade it)`;
  const detail = typeof reply[2] === 'string' ? `: ${reply[2]}` : '';
  return `refused ${op} (${STATUS_NAME[reply[1] as number] ?? String(reply[1])}${detail})`;
}

const ZERO_TOTALS: FlushTotals = { depth: 0, bytes: 0, oldestMs: 0, inFlight: 0, flushed: 0, failed: 0, coalesced: 0, refused: 0, deadLetters: 0 };

/**
 * The flush-status report from the topology and each node's answer (by node id; a node without an
 * answer counts as not answering). Pure.
 */
export function flushStatusReport(
  input: { cluster: string; namespace: string; writePolicy: string | null; doc: Pick<StatusDocument, 'shards' | 'nodes'>; answers: ReadonlyMap<string, NodeAnswer> },
  at: Date = new Date(),
): FlushStatusReport {
  const { doc, answers } = input;
  const answerOf = (nodeId: string): NodeAnswer => answers.get(nodeId) ?? { error: 'not asked' };
  const shards = doc.shards.map((s): ShardFlushStatus => {
    const primary = s.primary?.nodeId ?? null;
    const own = primary === null ? { error: 'no primary (election pending)' } : answerOf(primary);
    const replicas = doc.nodes
      .filter((n) => n.shardId === s.shardId && n.nodeId !== primary)
      .map((n): ReplicaDepth => {
        const a = answerOf(n.nodeId);
        return 'error' in a ? { nodeId: n.nodeId, depth: null, error: a.error } : { nodeId: n.nodeId, depth: a.figures?.depth ?? 0, error: null };
      });
    return 'error' in own
      ? { shardId: s.shardId, primary, figures: null, error: own.error, replicas }
      : { shardId: s.shardId, primary, figures: own.figures, error: null, replicas };
  });
  const totals = { ...ZERO_TOTALS };
  const deadLetters: FlushStatusReport['deadLetters'] = [];
  for (const s of shards) {
    const f = s.figures;
    if (f === null) continue;
    for (const k of ['depth', 'bytes', 'inFlight', 'flushed', 'failed', 'coalesced', 'refused', 'deadLetters'] as const) totals[k] += f[k];
    totals.oldestMs = Math.max(totals.oldestMs, f.oldestMs);
    for (const d of f.recent) deadLetters.push({ shardId: s.shardId, ...d });
  }
  deadLetters.sort((a, b) => b.at - a.at || a.shardId - b.shardId || a.key.localeCompare(b.key));
  return { cluster: input.cluster, namespace: input.namespace, writePolicy: input.writePolicy, at: at.toISOString(), shards, totals, deadLetters };
}

/** A reply to WRITE_POLICY_FLUSH as a shard's result. Pure. */
export function flushResultOf(shardId: number, primary: string, reply: readonly unknown[]): ShardFlushResult {
  if (reply[1] === Status.OK) return { shardId, primary, remaining: num(reply[2]), deadLetters: num(reply[3]), error: null };
  return { shardId, primary, remaining: null, deadLetters: null, error: refusal(reply, 'WRITE_POLICY_FLUSH') };
}

/** Why a flush did not drain the namespace, one sentence per shard (empty: drained). Pure. */
export function flushProblems(report: Pick<FlushReport, 'shards' | 'timeoutMs'>): string[] {
  const out: string[] = [];
  for (const s of report.shards) {
    if (s.error !== null) out.push(`shard ${s.shardId}: ${s.error}`);
    else if (s.remaining !== 0) out.push(`shard ${s.shardId}: ${s.remaining} key${s.remaining === 1 ? '' : 's'} still unflushed after ${report.timeoutMs} ms`);
  }
  return out;
}

/** The write policy stored for `namespace` (cache-aside when unset), or null when it has no (valid) policy. */
async function storedWritePolicy(ctx: CommandContext, namespace: string): Promise<string | null> {
  const text = await ctx.client.get(ctx.keys.namespace(namespace)).string();
  if (text === null) return null;
  const parsed = parseRecord(NamespacePolicySchema, text);
  return parsed.ok ? parsed.value.writePolicy ?? 'cache-aside' : null;
}

/** The topology, refusing a cluster that is not initialised. */
async function topology(ctx: CommandContext): Promise<StatusDocument> {
  const doc = await clusterStatus(ctx);
  if (!doc.initialised) throw new NotInitialisedError(ctx.cluster);
  return doc;
}

/** Asks every registered node of every shard for the namespace's figures, at once; a node that does not answer is reported, not thrown. */
export async function readFlushStatus(ctx: CommandContext, namespace: string, nodes: NodeClients): Promise<FlushStatusReport> {
  validateNamespaceName(namespace);
  const doc = await topology(ctx);
  const writePolicy = await storedWritePolicy(ctx, namespace);
  const answers = new Map<string, NodeAnswer>();
  await Promise.all(doc.nodes.map(async (n) => {
    try {
      answers.set(n.nodeId, statusAnswerOf(await nodes.requestWithin(n.addr, STATUS_DEADLINE_MS, Op.WRITE_POLICY_STATUS, namespace), namespace));
    } catch (err) {
      answers.set(n.nodeId, { error: noAnswer(n.addr, err) });
    }
  }));
  return flushStatusReport({ cluster: ctx.cluster, namespace, writePolicy, doc, answers });
}

/**
 * Sends WRITE_POLICY_FLUSH to every shard's primary at once and waits for them all (each node
 * answers once its queue is drained or after `timeoutMs`); a primary that does not answer by
 * then plus FLUSH_GRACE_MS, or a shard without one, is a shard not drained.
 */
export async function flushNamespace(ctx: CommandContext, namespace: string, timeoutMs: number, nodes: NodeClients, now: () => number = Date.now): Promise<FlushReport> {
  validateNamespaceName(namespace);
  const doc = await topology(ctx);
  const writePolicy = await storedWritePolicy(ctx, namespace);
  const started = now();
  const shards = await Promise.all(doc.shards.map(async (s): Promise<ShardFlushResult> => {
    if (s.primary === null) return { shardId: s.shardId, primary: null, remaining: null, deadLetters: null, error: 'no primary (election pending)' };
    try {
      return flushResultOf(s.shardId, s.primary.nodeId, await nodes.requestWithin(s.primary.addr, timeoutMs + FLUSH_GRACE_MS, Op.WRITE_POLICY_FLUSH, namespace, timeoutMs));
    } catch (err) {
      return { shardId: s.shardId, primary: s.primary.nodeId, remaining: null, deadLetters: null, error: noAnswer(s.primary.addr, err) };
    }
  }));
  const report = { cluster: ctx.cluster, namespace, writePolicy, timeoutMs, elapsedMs: now() - started, drained: false, shards };
  report.drained = flushProblems(report).length === 0;
  return report;
}

/** Why a node gave no answer, naming it once. */
function noAnswer(addr: string, err: unknown): string {
  const why = failureText(err);
  return why.startsWith(`node ${addr} `) ? why : `no answer from ${addr}: ${why}`;
}
