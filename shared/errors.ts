import { Status, STATUS_NAME } from './protocol';

/**
 * Typed errors with stable codes. Codes cross the wire and show up in metrics; messages are for
 * people. Every program translates these to its own wire at one table at its edge.
 */
export class ShardcacheError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A peer sent bytes that do not form a valid frame; the connection cannot continue. */
export class ProtocolError extends ShardcacheError {
  constructor(message: string, code = 'PROTOCOL_ERROR') {
    super(code, message);
  }
}

/** A frame larger than the agreed limit: refused before any buffer for it is allocated. */
export class FrameTooLargeError extends ProtocolError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`, 'FRAME_TOO_LARGE');
    this.size = size;
    this.limit = limit;
  }
}

/** Configuration that cannot be used; the message names the setting and what is allowed. */
export class ConfigError extends ShardcacheError {
  constructor(message: string) {
    super('CONFIG_ERROR', message);
  }
}

/**
 * An operation refused with a node status (TOO_LARGE, OVER_QUOTA, NOT_INTEGER...). The store
 * throws these; the node turns them into error replies through `status`.
 */
export class OpError extends ShardcacheError {
  readonly status: number;
  readonly detail: readonly unknown[];
  constructor(status: number, message: string, detail: readonly unknown[] = []) {
    super(STATUS_NAME[status] ?? 'INTERNAL', message);
    this.status = status;
    this.detail = detail;
  }
}

export const badRequest = (message: string): OpError => new OpError(Status.BAD_REQUEST, message);
