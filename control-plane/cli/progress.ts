import { SingleBar, Presets } from 'cli-progress';

/** Reports the progress of a bounded wait; a no-op when the output is not a terminal. */
export interface WaitProgress {
  update(elapsedMs: number, totalMs: number): void;
  stop(): void;
}

/** A progress bar of elapsed time against the timeout on a TTY (stderr), nothing otherwise. */
export function waitProgress(label: string, stream: NodeJS.WriteStream = process.stderr): WaitProgress {
  if (!stream.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    { format: `${label} [{bar}] {elapsed}s / {limit}s`, stream, hideCursor: true, clearOnComplete: true },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(elapsedMs, totalMs) {
      const payload = { elapsed: (elapsedMs / 1000).toFixed(1), limit: Math.round(totalMs / 1000) };
      if (!started) bar.start(totalMs, 0, payload);
      started = true;
      bar.update(Math.min(elapsedMs, totalMs), payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
