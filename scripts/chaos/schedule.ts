import { FAULT_KINDS, type FaultKind } from './history';
import { prng } from '../random';

/**
 * The fault schedule, pure and seeded: the same profile, duration and seed give the same list,
 * which the process harness applies itself and `scripts/chaos-compose.sh` applies with docker
 * compose (it reads `--print-schedule`). Faults run one after another: inject, wait until the
 * cluster is whole again, pause `gapMs`, next.
 */
export interface PlannedFault {
  kind: FaultKind;
  /** Shard whose node is hit (storage-node faults), or the proxy index (restart-proxy). */
  target: number;
  /** Node faults: the role of the node hit (restart-node-empty: the primary, a clean hand-over, or a replica). */
  role: 'primary' | 'replica';
  /** Pause after the cluster is whole again, before the next fault. */
  gapMs: number;
}

export type Profile = 'ci' | 'long';

/** Average time one fault takes with its recovery and pause, to size a long run. */
const SECONDS_PER_FAULT: Record<Profile, number> = { ci: 8, long: 8 }; // measured: 30 long faults took 251 s


/**
 * `ci`: every fault kind once, in the order of FAULT_KINDS. `long`: shuffled rounds of every kind
 * until the faults fill `durationMs`.
 */
export function planSchedule(profile: Profile, durationMs: number, seed: number, shards: number, proxies: number): PlannedFault[] {
  const random = prng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const gapMs = profile === 'ci' ? 2000 : 5000;
  const rounds = profile === 'ci' ? 1 : Math.max(1, Math.floor(durationMs / 1000 / SECONDS_PER_FAULT.long / FAULT_KINDS.length));
  const plan: PlannedFault[] = [];
  for (let r = 0; r < rounds; r++) {
    const kinds = [...FAULT_KINDS];
    if (profile === 'long') {
      for (let i = kinds.length - 1; i > 0; i--) {
        const j = pick(i + 1);
        [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
      }
    }
    for (const kind of kinds) {
      const target = kind === 'restart-proxy' ? pick(proxies) : pick(shards);
      const role = kind === 'restart-node-empty' ? (profile === 'ci' || random() < 0.5 ? 'primary' : 'replica') : kind === 'kill-replica-in-sync' ? 'replica' : 'primary';
      plan.push({ kind, target, role, gapMs });
    }
  }
  return plan;
}

/** The schedule as lines `kind target role gapMs` (what chaos-compose.sh reads). */
export function scheduleLines(plan: readonly PlannedFault[]): string {
  return plan.map((f) => `${f.kind} ${f.target} ${f.role} ${f.gapMs}`).join('\n');
}
