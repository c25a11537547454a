import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs on stdout, one logger per program with namespaced children
 * (`logger.child({ component: 'storage-node:server' })`). Level from `--log-level` or
 * `SHARDCACHE_LOG_LEVEL`.
 */
export function createLogger(program: string, level = process.env.SHARDCACHE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: program, level, base: { pid: process.pid } });
}

export type { Logger };
