import fs from 'node:fs';

/**
 * What the benchmark reads about a process from /proc (Linux): its resident memory and the CPU
 * time it has used. Pure reads; a missing process throws.
 */

/** Kernel clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident set size of process `pid` in bytes, from VmRSS in /proc/<pid>/status. */
export function readRssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** The CPU time fields of /proc/<pid>/stat in clock ticks: the process's own and its reaped children's. */
interface StatTimes {
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/** Reads the CPU time fields of /proc/<pid>/stat (`self`: this process); throws if they are not numbers. */
function readStatTimes(pid: number | 'self'): StatTimes {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
  if (![utime, stime, cutime, cstime].every(Number.isFinite)) throw new Error(`unreadable /proc/${pid}/stat`);
  return { utime, stime, cutime, cstime };
}

/** CPU seconds (user + system, all threads) process `pid` has used, from /proc/<pid>/stat. */
export function readCpuSeconds(pid: number): number {
  const { utime, stime } = readStatTimes(pid);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been waited for,
 * from the cutime and cstime fields of /proc/self/stat: what a finished child such as wrk used.
 */
export function readReapedChildrenCpuSeconds(): number {
  const { cutime, cstime } = readStatTimes('self');
  return (cutime + cstime) / CLOCK_TICKS_PER_SECOND;
}
