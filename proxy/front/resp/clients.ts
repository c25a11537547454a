import { RespCommandError, RespMessages } from './errors';
import { int64ArgOr, word } from './args';

/**
 * CLIENT LIST / CLIENT INFO lines and the filters of CLIENT LIST and CLIENT KILL. Pure: the
 * facts come from each connection (`RespConnection.clientFacts`).
 */

/** What one connection tells CLIENT LIST about itself. */
export interface ClientFacts {
  id: number;
  /** `ip:port` of the client. */
  addr: string;
  /** `ip:port` the client connected to. */
  laddr: string;
  /** The socket's file descriptor; -1 when node does not expose it (TLS). */
  fd: number;
  name: string | null;
  /** Seconds since the connection was accepted. */
  age: number;
  /** Seconds since the client last sent something or was written to (Redis's lastinteraction). */
  idle: number;
  /** Bytes the parser holds of requests not yet taken on (the query buffer). */
  qbuf: number;
  /** Most bytes the parser held at once. */
  qbufPeak: number;
  /** Replies reserved and not yet written (Redis's output list length). */
  oll: number;
  /** Reply bytes produced and not yet handed to the kernel. */
  omem: number;
  /** The last command, `name` or `name|sub` (`NULL` before the first). */
  cmd: string;
  user: string;
  resp: 2 | 3;
  libName: string | null;
  libVer: string | null;
}

/**
 * One line of CLIENT LIST (without the line end), in Redis 7.2's field order. Fields the proxy
 * has no counterpart for carry the value Redis gives a plain client (db=0, sub=0, multi=-1, ...).
 */
export function clientLine(f: ClientFacts): string {
  const omem = f.omem;
  return `id=${f.id} addr=${f.addr} laddr=${f.laddr} fd=${f.fd} name=${f.name ?? ''} age=${f.age} idle=${f.idle} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 `
    + `qbuf=${f.qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=${f.qbuf} rbp=${f.qbufPeak} obl=0 oll=${f.oll} omem=${omem} tot-mem=${f.qbuf + omem} `
    + `events=${omem > 0 ? 'rw' : 'r'} cmd=${f.cmd} user=${f.user} redir=-1 resp=${f.resp} lib-name=${f.libName ?? ''} lib-ver=${f.libVer ?? ''}`;
}

/** Client types of CLIENT LIST TYPE / CLIENT KILL TYPE; every RESP connection of the proxy is `normal`. */
const CLIENT_TYPES = new Set(['normal', 'master', 'replica', 'slave', 'pubsub']);

/** A CLIENT LIST or CLIENT KILL filter; every field set must match. */
export interface ClientFilter {
  ids?: Set<number>;
  type?: string;
  addr?: string;
  laddr?: string;
  user?: string;
  /** CLIENT KILL's SKIPME (default yes): the calling connection is never killed. */
  skipMe: boolean;
}

function clientType(arg: Buffer): string {
  const type = arg.toString('latin1').toLowerCase();
  if (!CLIENT_TYPES.has(type)) throw new RespCommandError(RespMessages.unknownClientType(arg.toString('utf8')));
  return type === 'slave' ? 'replica' : type;
}

function clientId(arg: Buffer, message: string): number {
  const id = int64ArgOr(arg, message);
  if (id <= 0n) throw new RespCommandError(message);
  return Number(id);
}

/** CLIENT LIST's options after `LIST` (`args[from]` on): TYPE type, ID id [id ...]. */
export function listFilter(args: readonly Buffer[], from: number): ClientFilter {
  const filter: ClientFilter = { skipMe: false };
  for (let i = from; i < args.length; i++) {
    const opt = word(args[i]);
    if (opt === 'TYPE' && i + 1 < args.length) filter.type = clientType(args[++i]);
    else if (opt === 'ID' && i + 1 < args.length) {
      filter.ids = new Set(args.slice(i + 1).map((a) => clientId(a, RespMessages.invalidClientId)));
      break;
    } else throw new RespCommandError(RespMessages.syntax);
  }
  return filter;
}

/** CLIENT KILL's new form after `KILL` (`args[from]` on): pairs of ID, TYPE, ADDR, LADDR, USER, SKIPME. */
export function killFilter(args: readonly Buffer[], from: number): ClientFilter {
  const filter: ClientFilter = { skipMe: true };
  if ((args.length - from) % 2 !== 0) throw new RespCommandError(RespMessages.syntax);
  for (let i = from; i < args.length; i += 2) {
    const value = args[i + 1];
    switch (word(args[i])) {
      case 'ID':
        filter.ids = new Set([clientId(value, RespMessages.killClientId)]);
        break;
      case 'TYPE':
        filter.type = clientType(value);
        break;
      case 'ADDR':
        filter.addr = value.toString('latin1');
        break;
      case 'LADDR':
        filter.laddr = value.toString('latin1');
        break;
      case 'USER':
        filter.user = value.toString('utf8');
        break;
      case 'SKIPME': {
        const yes = word(value);
        if (yes !== 'YES' && yes !== 'NO') throw new RespCommandError(RespMessages.syntax);
        filter.skipMe = yes === 'YES';
        break;
      }
      default:
        throw new RespCommandError(RespMessages.syntax);
    }
  }
  return filter;
}

/** Whether a connection's facts pass `filter` (`self`: it is the calling connection). */
export function filterMatches(filter: ClientFilter, f: Pick<ClientFacts, 'id' | 'addr' | 'laddr' | 'user'>, self: boolean): boolean {
  if (filter.skipMe && self) return false;
  if (filter.ids !== undefined && !filter.ids.has(f.id)) return false;
  if (filter.type !== undefined && filter.type !== 'normal') return false;
  if (filter.addr !== undefined && filter.addr !== f.addr) return false;
  if (filter.laddr !== undefined && filter.laddr !== f.laddr) return false;
  if (filter.user !== undefined && filter.user !== f.user) return false;
  return true;
}

/** `ip:port` of an address pair as Redis prints it (`anetFormatAddr`: an IPv6 address in brackets). */
export function hostPort(address: string | undefined, port: number | undefined): string {
  const ip = address ?? '?';
  return ip.includes(':') ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
}
