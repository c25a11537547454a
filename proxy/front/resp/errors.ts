import { WRONG_TYPE_MESSAGE } from '../../../shared/collections';
import type { FrontErrorCode, WireError } from '../wire-error';

/**
 * Errors of the RESP front. Two kinds, both ending as one `-CODE message` line:
 * - command errors worded exactly as Redis words them (`RespMessages`), raised while reading a
 *   command's arguments, as a `RespCommandError`;
 * - the proxy's `WireError`s, translated by `respErrorLine`: the one table of this edge.
 */
export class RespCommandError extends Error {
  /** The error line without its `-` and CR LF, e.g. `ERR syntax error`. */
  readonly line: string;
  /** The proxy's code when the error came from the data plane (e.g. VERSION_CONFLICT). */
  readonly code: FrontErrorCode | undefined;
  constructor(line: string, code?: FrontErrorCode) {
    super(line);
    this.name = 'RespCommandError';
    this.line = line;
    this.code = code;
  }
}

/** Redis's own wording, byte for byte, for the errors clients match on. */
export const RespMessages = {
  syntax: 'ERR syntax error',
  notInteger: 'ERR value is not an integer or out of range',
  overflow: 'ERR increment or decrement would overflow',
  decrementOverflow: 'ERR decrement would overflow',
  dbIndex: 'ERR DB index is out of range',
  noProto: 'NOPROTO unsupported protocol version',
  protoVersion: 'ERR Protocol version is not an integer or out of range',
  wrongPass: 'WRONGPASS invalid username-password pair or user is disabled.',
  noAuth: 'NOAUTH Authentication required.',
  helloNoAuth: 'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
  noPerm: 'NOPERM this user has no permissions to access one of the keys used as arguments',
  authBusy: 'ERR too many authentications in progress on this proxy; retry shortly',
  clientName: 'ERR Client names cannot contain spaces, newlines or special characters.',
  internal: 'ERR internal error in the proxy; see its log',
  wrongArgs: (name: string): string => `ERR wrong number of arguments for '${name}' command`,
  invalidExpire: (name: string): string => `ERR invalid expire time in '${name}' command`,
  unknownSubcommand: (sub: string, command: string): string => `ERR unknown subcommand '${sub}'. Try ${command} HELP.`,
  unsupportedOption: (option: string): string => `ERR Unsupported option ${option}`,
  helloOption: (option: string): string => `ERR Syntax error in HELLO option '${option}'`,
  wrongType: `WRONGTYPE ${WRONG_TYPE_MESSAGE}`,
  crossSlot: "CROSSSLOT Keys in request don't hash to the same slot",
  noSuchKey: 'ERR no such key',
  sameObject: 'ERR source and destination objects are the same',
  notFloat: 'ERR value is not a valid float',
  offsetRange: 'ERR offset is out of range',
  maxBulk: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)',
  expireNx: 'ERR NX and XX, GT or LT options at the same time are not compatible',
  expireGtLt: 'ERR GT and LT options at the same time are not compatible',
  invalidCursor: 'ERR invalid cursor',
  // Hashes and sets: Redis 7's wording for the arguments it checks before reading the key.
  nanOrInfinity: 'ERR value is NaN or Infinity',
  outOfRange: 'ERR value is out of range',
  mustBePositive: 'ERR value is out of range, must be positive',
  longRange: 'ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807',
  // OBJECT FREQ / IDLETIME of a key whose namespace does not keep that figure: Redis 7's wording.
  lfuNotSelected: 'ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.',
  lfuSelected: 'ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.',
  /** SCAN TYPE of a name Redis does not know: Redis's wording (7.x matches nothing there, 8.0 refuses it). */
  unknownType: (name: string): string => `ERR unknown type name '${name}'`,
  // CLIENT, CONFIG SET, SLOWLOG: Redis 7's wording.
  unknownClientType: (type: string): string => `ERR Unknown client type '${type}'`,
  invalidClientId: 'ERR Invalid client ID',
  killClientId: 'ERR client-id should be greater than 0',
  noSuchClient: 'ERR No such client',
  setinfoOption: (option: string): string => `ERR Unrecognized option '${option}'`,
  setinfoValue: (attr: string): string => `ERR ${attr} cannot contain spaces, newlines or special characters.`,
  /** Not Redis's (it has no bound): the proxy keeps these per connection. */
  setinfoTooLong: (attr: string, max: number): string => `ERR ${attr} is longer than ${max} bytes`,
  noPermCommand: (user: string, command: string): string => `NOPERM User ${user} has no permissions to run the '${command}' command`,
  slowlogCount: 'ERR count should be greater than or equal to -1',
  configSetUnknown: (name: string): string => `ERR Unknown option or number of arguments for CONFIG SET - '${name}'`,
  configSetFailed: (name: string, why: string): string => `ERR CONFIG SET failed (possibly related to argument '${name}') - ${why}`,
} as const;

/**
 * Refusals of hostile or stuck clients (docs/resp.md, "Limits and refusals"). Stable texts that
 * never quote what the client sent; `maxClients` is Redis's own wording.
 */
export const RespRefusals = {
  maxClients: 'ERR max number of clients reached',
  requestTimeout: (ms: number): string => `ERR request not completed within ${ms} ms`,
  inputBudget: 'ERR proxy input buffer budget exceeded',
  patternTooLong: (max: number): string => `ERR pattern longer than ${max} bytes`,
  tooManyPatterns: (max: number): string => `ERR more than ${max} patterns in one CONFIG GET`,
  keysTooMany: (max: number): string => `ERR KEYS would return more than ${max} keys; use SCAN`,
} as const;

/**
 * Proxy error code → RESP error line (the one translation table of this front). Redis clients
 * read the first word as the error's kind: generic failures are `ERR`, memory pressure `OOM`, a
 * part of the cluster that cannot serve `CLUSTERDOWN`, a node that did not answer `TIMEOUT`.
 */
const TABLE: Readonly<Record<FrontErrorCode, (message: string) => string>> = {
  BAD_REQUEST: (m) => `ERR ${m}`,
  NOT_FOUND: (m) => `ERR ${m}`,
  METHOD_NOT_ALLOWED: (m) => `ERR ${m}`,
  VERSION_CONFLICT: (m) => `ERR ${m}`,
  TOO_LARGE: (m) => `ERR ${m}`,
  NOT_INTEGER: () => RespMessages.notInteger,
  OVERFLOW: () => RespMessages.overflow,
  WRONG_TYPE: () => RespMessages.wrongType,
  OVER_QUOTA: (m) => `OOM ${m}`,
  OUT_OF_MEMORY: (m) => `OOM ${m}`,
  RATE_LIMITED: (m) => `ERR ${m}`,
  NODE_UNAVAILABLE: (m) => `CLUSTERDOWN ${m}`,
  UNAVAILABLE: (m) => `CLUSTERDOWN ${m}`,
  TIMEOUT: (m) => `TIMEOUT ${m}`,
  ORIGIN_ERROR: (m) => `ERR ${m}`,
  ORIGIN_TIMEOUT: (m) => `TIMEOUT ${m}`,
  WRITE_ACK_TIMEOUT: (m) => `NOREPLICAS ${m}`,
  STORE_ERROR: (m) => `STOREERROR ${m}`,
  STORE_TIMEOUT: (m) => `TIMEOUT ${m}`,
  WRITE_QUEUE_FULL: (m) => `BUSY ${m}`,
  NOAUTH: () => RespMessages.noAuth,
  WRONGPASS: () => RespMessages.wrongPass,
  NOPERM: () => RespMessages.noPerm,
  AUTH_BUSY: () => RespMessages.authBusy,
  INTERNAL: () => RespMessages.internal,
};

/** The RESP error line of a proxy error. */
export function respErrorLine(error: WireError): string {
  return TABLE[error.code](error.message);
}

/** Redis's answer to a command it does not know, quoting up to 128 characters of its arguments. */
export function unknownCommandLine(name: string, args: readonly Buffer[]): string {
  let quoted = '';
  for (let i = 1; i < args.length && quoted.length < 128; i++) quoted += `'${args[i].toString('utf8').slice(0, 128 - quoted.length)}' `;
  return `ERR unknown command '${name.slice(0, 128)}', with args beginning with: ${quoted}`;
}
