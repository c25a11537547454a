import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';

/**
 * Parsers for command-line flags and environment variables shared by every program. Each throws
 * commander's InvalidArgumentError with a message a person can act on; commander prefixes the
 * flag name and exits with status 1 (`error: option '--max-memory <bytes>' argument '12q' is
 * invalid. expected a size such as 512mb, 2gb or 1048576`).
 */
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|kib|mib|gib)?$/i;
const UNITS: Record<string, number> = {
  b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** A byte size: `1048576`, `64kb`, `512mb`, `2gb` (binary units). */
export function parseBytes(text: string): number {
  const match = SIZE.exec(text.trim());
  if (!match) throw new InvalidArgumentError('expected a size such as 512mb, 2gb or 1048576');
  const bytes = Math.floor(Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()]);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InvalidArgumentError('expected a positive size');
  return bytes;
}

/** An integer within [min, max]. */
export function intIn(min: number, max: number): (text: string) => number {
  return (text: string) => {
    const value = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

/** `--workers`: a count from 1 to 64, or `auto`: one per core this process may use (os.availableParallelism). */
export function parseWorkers(text: string): number {
  if (text.trim() === 'auto') return Math.min(64, Math.max(1, availableParallelism()));
  return intIn(1, 64)(text);
}

/** A TCP port; 0 asks the system for a free one. */
export const parsePort = intIn(0, 65535);

/** `host:port` (for example the etcd endpoint). */
export function parseHostPort(text: string): string {
  const match = /^([A-Za-z0-9_.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(text.trim());
  if (!match || Number(match[2]) > 65535) throw new InvalidArgumentError('expected host:port, for example 127.0.0.1:2379');
  return text.trim();
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(...choices: readonly T[]): (text: string) => T {
  return (text: string) => {
    if (!(choices as readonly string[]).includes(text)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}`);
    return text as T;
  };
}
