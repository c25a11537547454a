import fs from 'node:fs';
import os from 'node:os';
import { cpuOfAll, processTree } from './peers-servers';
import { readCpuSeconds } from './procfs';

/**
 * Where the cores went during one measured window: CPU seconds of each named process (from
 * /proc/<pid>/stat) and of the whole machine (from /proc/stat), read at the window's two ends.
 *
 *   const window = CpuWindow.open(processes);   ... load ...   const usage = window.close();
 */

/** A process whose CPU time the benchmark reports, by the name it prints. */
export interface WatchedProcess {
  name: string;
  pid: number;
}

/** CPU seconds one process used in the window (NaN when it could not be read). */
export interface ProcessCpu {
  name: string;
  cpuSeconds: number;
}

/** CPU used during one window. */
export interface CpuUsage {
  /** Wall-clock length of the window. */
  seconds: number;
  processes: ProcessCpu[];
  /** Busy CPU seconds of the whole machine, all CPUs together, steal excluded (NaN without /proc/stat). */
  machineBusySeconds: number;
  /** CPU seconds the hypervisor gave to other guests while this machine wanted to run (steal). */
  stealSeconds: number;
  cpus: number;
}

/** Kernel clock ticks per second of /proc/stat (USER_HZ). */
const TICKS_PER_SECOND = 100;

/** CPU seconds of the whole machine since boot, from the `cpu` line of /proc/stat. */
export interface MachineCpu {
  /** user + nice + system + irq + softirq. */
  busy: number;
  steal: number;
}

/** The machine's busy and steal seconds since boot (NaN without /proc/stat). */
export function readMachineCpu(): MachineCpu {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { busy: (user + nice + system + irq + softirq) / TICKS_PER_SECOND, steal: steal / TICKS_PER_SECOND };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

/** CPU seconds of `pid` and its children (a proxy run with --workers), NaN when `pid` is gone. */
function cpuOf(pid: number): number {
  try {
    readCpuSeconds(pid);
  } catch {
    return NaN;
  }
  return cpuOfAll(processTree(pid));
}

/** An open measurement window; `close` returns what each process used since `open`. */
export class CpuWindow {
  readonly #processes: readonly WatchedProcess[];
  readonly #startCpu: number[];
  readonly #startMachine: MachineCpu;
  readonly #startedAt: bigint;

  private constructor(processes: readonly WatchedProcess[]) {
    this.#processes = processes;
    this.#startCpu = processes.map((p) => cpuOf(p.pid));
    this.#startMachine = readMachineCpu();
    this.#startedAt = process.hrtime.bigint();
  }

  /** Starts a window over `processes`. */
  static open(processes: readonly WatchedProcess[]): CpuWindow {
    return new CpuWindow(processes);
  }

  /** Ends the window. */
  close(): CpuUsage {
    const seconds = Number(process.hrtime.bigint() - this.#startedAt) / 1e9;
    const machine = readMachineCpu();
    return {
      seconds,
      processes: this.#processes.map((p, i) => ({ name: p.name, cpuSeconds: cpuOf(p.pid) - this.#startCpu[i] })),
      machineBusySeconds: machine.busy - this.#startMachine.busy,
      stealSeconds: machine.steal - this.#startMachine.steal,
      cpus: os.cpus().length,
    };
  }
}

/** Percent of one core that `cpuSeconds` is over `usage`'s window. */
export function coreShare(usage: CpuUsage, cpuSeconds: number): number {
  return (100 * cpuSeconds) / usage.seconds;
}

/**
 * CPU seconds the machine was busy outside the watched processes (other work on the machine).
 * Never below 0: under heavy steal the processes' own times can include stolen time and add up to
 * more than the machine's busy time.
 */
export function otherCpuSeconds(usage: CpuUsage): number {
  const watched = usage.processes.reduce((sum, p) => sum + (Number.isFinite(p.cpuSeconds) ? p.cpuSeconds : 0), 0);
  return Math.max(0, usage.machineBusySeconds - watched);
}

/** CPU seconds of the processes whose name starts with `prefix`, added up. */
export function cpuSecondsOf(usage: CpuUsage, prefix: string): number {
  return usage.processes.filter((p) => p.name.startsWith(prefix)).reduce((sum, p) => sum + p.cpuSeconds, 0);
}
