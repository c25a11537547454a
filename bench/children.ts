import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadResult, LoadTask } from './load-task';

/**
 * Every process a benchmark starts, so none outlives it: `stop` ends one politely (SIGTERM, then
 * SIGKILL), `killAll` ends the rest at once and is wired to exit, SIGINT, SIGTERM and crashes.
 */
export class ChildRegistry {
  readonly #children = new Set<ChildProcess>();

  /** Tracks `child` until it exits. */
  track<T extends ChildProcess>(child: T): T {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
  async stop(child: ChildProcess, graceMs = 5000): Promise<void> {
    if (hasExited(child)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL to every child still alive; synchronous, so it may run in an 'exit' handler. */
  killAll(): void {
    for (const child of this.#children) {
      if (!hasExited(child)) child.kill('SIGKILL');
    }
    this.#children.clear();
  }

  /** Kills every child when this process exits, is interrupted or crashes. */
  installExitHooks(): void {
    process.on('exit', () => this.killAll());
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: stopping the benchmark and every process it started`);
        this.killAll();
        process.exit(130);
      });
    }
    process.on('uncaughtException', (err) => {
      console.error(`benchmark failed: ${err.stack ?? err.message}`);
      this.killAll();
      process.exit(1);
    });
  }
}

/**
 * Runs a whole benchmark with a registry for the processes it starts: exit hooks installed, the
 * run bounded by `seconds` (past it every child is killed and the process exits 2), and every
 * child killed when `run` settles.
 */
export async function runBounded<T>(what: string, seconds: number, run: (children: ChildRegistry) => Promise<T>): Promise<T> {
  const children = new ChildRegistry();
  children.installExitHooks();
  const overall = setTimeout(() => {
    console.error(`${what}: passed its ${seconds} s bound (--timeout); stopping every process it started`);
    children.killAll();
    process.exit(2);
  }, seconds * 1000);
  try {
    return await run(children);
  } finally {
    clearTimeout(overall);
    children.killAll();
  }
}

/** True once `child` has exited or was killed by a signal. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

const WORKER = path.join(__dirname, 'load-worker.js');

/** Runs one task in a fresh load worker process and resolves with its figures. */
export function runWorker(children: ChildRegistry, task: LoadTask): Promise<LoadResult> {
  return runTaskProcess<LoadResult>(children, WORKER, task, `load worker (${task.protocol} ${task.mode})`);
}

/**
 * Forks `script` with `task` as its JSON argument, tracked by `children`; resolves with the one
 * `{ ok: true, ... }` message it sends, or rejects with its `{ ok: false, error }` or exit. The
 * worker is killed if it outlives `task.deadlineMs` by ten seconds.
 */
export function runTaskProcess<R extends { ok: true }>(children: ChildRegistry, script: string, task: { deadlineMs: number }, label: string): Promise<R> {
  const child = children.track(fork(script, [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  return new Promise((resolve, reject) => {
    let outcome: R | { ok: false; error: string } | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), task.deadlineMs + 10_000);
    child.on('message', (message: R | { ok: false; error: string }) => (outcome = message));
    // 'close' comes after the IPC channel is drained, so the outcome message is in by then.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (outcome?.ok) resolve(outcome);
      else reject(new Error(`${label} failed: ${outcome ? outcome.error : `exited with ${code ?? signal}`}`));
    });
  });
}

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
