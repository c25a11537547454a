/**
 * What the RESP front watches about its own commands, per proxy process: the slow log (SLOWLOG),
 * the latency monitor (LATENCY) and the command rate INFO reports (instantaneous_ops_per_sec).
 * Pure: times and clocks are passed in.
 *
 * Cost on the request path: `CommandTimer.floorSeconds` is the one figure a finished command is
 * compared with (the smaller of the two thresholds; Infinity while both are off), so a command
 * under it costs one comparison; only a command over it makes an entry.
 */

/** Most arguments of a command a slow-log entry keeps (Redis's SLOWLOG_ENTRY_MAX_ARGC). */
export const SLOWLOG_MAX_ARGC = 32;
/** Most bytes of one argument a slow-log entry keeps (Redis's SLOWLOG_ENTRY_MAX_STRING). */
export const SLOWLOG_MAX_ARG_BYTES = 128;
/** Default of `slowlog-log-slower-than`, µs (Redis's). */
export const SLOWLOG_DEFAULT_THRESHOLD_US = 10_000;
/** Default of `slowlog-max-len` (Redis's). */
export const SLOWLOG_DEFAULT_MAX_LEN = 128;
/**
 * Highest `slowlog-max-len` CONFIG SET takes. Redis takes any; an entry here holds up to
 * 32 × 128 bytes of arguments, so this bounds the log to ~50 MB whatever a client sets.
 */
export const SLOWLOG_MAX_LEN_LIMIT = 10_000;
/** Samples LATENCY HISTORY keeps per event (Redis's LATENCY_TS_LEN). */
export const LATENCY_HISTORY_LEN = 160;
/** The slow log's own slab size for its entries' arguments. */
const SLAB_BYTES = 64 * 1024;

/**
 * A command's arguments as the slow log keeps them, packed: their bytes copied into one buffer
 * (`bytes`), the end of each in `ends`. Under load most commands pass the threshold (a pipelined
 * MGET waits for three nodes), so an entry costs one allocation and a copy, not a Buffer per
 * argument; SLOWLOG GET cuts them apart (`unpackArgs`).
 */
export interface PackedArgs {
  readonly bytes: Buffer;
  readonly ends: readonly number[];
}

const REDACTED = Buffer.from('(redacted)');
const AUTH = Buffer.from('auth');
const HELLO = Buffer.from('hello');

/** `a` equals the lower-case ASCII word `word`, whatever the case of its letters. */
function isWord(a: Buffer, word: Buffer): boolean {
  if (a.length !== word.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i] | 0x20) !== word[i]) return false;
  return true;
}

/**
 * Which arguments hold credentials, kept out of the slow log as Redis keeps them out
 * (`(redacted)`): every argument of AUTH after its name, and the user and password after
 * HELLO's AUTH option. (A login checks a scrypt hash, tens of ms: slow enough to be logged.)
 * -1: none; 0: every argument after the first; n > 0: arguments n and n + 1.
 */
function secretFrom(args: readonly Buffer[]): number {
  if (args.length < 2) return -1;
  if (isWord(args[0], AUTH)) return 0;
  if (!isWord(args[0], HELLO)) return -1;
  for (let j = 2; j < args.length; j++) if (isWord(args[j], AUTH)) return j + 1;
  return -1;
}

/**
 * Packs a command's arguments as Redis's slow log keeps them: at most 32 (the last of them then
 * reads `... (N more arguments)`), each cut to 128 bytes followed by `... (N more bytes)`. The kept
 * bytes are copied into memory from `alloc`, so an entry never pins a request's buffers (nor, with
 * the slow log's own slabs, a shared pool slab).
 */
export function packArgs(args: readonly Buffer[], alloc: (bytes: number) => Buffer = Buffer.allocUnsafeSlow): PackedArgs {
  const argc = Math.min(args.length, SLOWLOG_MAX_ARGC);
  const secret = secretFrom(args);
  const parts: Buffer[] = new Array(argc);
  let total = 0;
  for (let j = 0; j < argc; j++) {
    const a = args[j];
    let part: Buffer;
    if (secret === 0 ? j > 0 : secret > 0 && (j === secret || j === secret + 1)) part = REDACTED;
    else if (argc !== args.length && j === argc - 1) part = Buffer.from(`... (${args.length - argc + 1} more arguments)`);
    else if (a.length > SLOWLOG_MAX_ARG_BYTES) part = Buffer.concat([a.subarray(0, SLOWLOG_MAX_ARG_BYTES), Buffer.from(`... (${a.length - SLOWLOG_MAX_ARG_BYTES} more bytes)`)]);
    else part = a;
    parts[j] = part;
    total += part.length;
  }
  const bytes = alloc(total);
  const ends: number[] = new Array(argc);
  let at = 0;
  for (let j = 0; j < argc; j++) {
    bytes.set(parts[j], at);
    ends[j] = at += parts[j].length;
  }
  return { bytes, ends };
}

/** The arguments of a packed entry, as views of its one buffer. */
export function unpackArgs(packed: PackedArgs): Buffer[] {
  const out: Buffer[] = new Array(packed.ends.length);
  let start = 0;
  for (let j = 0; j < out.length; j++) {
    out[j] = packed.bytes.subarray(start, packed.ends[j]);
    start = packed.ends[j];
  }
  return out;
}

/** One slow-log entry (SLOWLOG GET's six fields, and the namespace it ran in). */
export interface SlowEntry {
  id: number;
  /** Unix time, seconds, when the command finished. */
  time: number;
  micros: number;
  /** The command's arguments (`unpackArgs` gives them one by one). */
  args: PackedArgs;
  /** The client's `ip:port`. */
  addr: string;
  /** Its CLIENT SETNAME name, '' when unnamed. */
  name: string;
  /** The connection's namespace: while auth is on, a client sees only its namespace's entries. */
  ns: string;
}

/**
 * The slow log: the newest `maxLen` commands slower than the threshold, in a ring (an entry
 * costs O(1) however long the log, so logging every command stays cheap).
 */
export class Slowlog {
  /** µs; negative: off (Redis's `slowlog-log-slower-than`). */
  thresholdMicros = SLOWLOG_DEFAULT_THRESHOLD_US;
  #maxLen = SLOWLOG_DEFAULT_MAX_LEN;
  /** The ring: `#size` entries, the oldest at `#start`. */
  #ring: SlowEntry[] = [];
  #start = 0;
  #size = 0;
  #nextId = 0;
  /** Where entries' arguments are copied: this log's own slab, filled in order (see `#alloc`). */
  #slab = Buffer.alloc(0);
  #slabUsed = 0;
  readonly #allocArgs = (bytes: number): Buffer => this.#alloc(bytes);

  get maxLen(): number {
    return this.#maxLen;
  }

  /** A new length keeps the newest entries that fit. */
  set maxLen(n: number) {
    const kept = this.#newestFirst(Math.min(n, this.#size)).reverse();
    this.#maxLen = n;
    this.#ring = kept;
    this.#start = 0;
    this.#size = kept.length;
  }

  /** Logs a command that took `micros` when that reaches the threshold; ids count every entry ever made. */
  observe(args: readonly Buffer[], micros: number, who: { addr: string; name: string | null; ns: string }, nowMs: number): void {
    if (this.thresholdMicros < 0 || micros < this.thresholdMicros || this.#maxLen === 0) return;
    const entry: SlowEntry = { id: this.#nextId++, time: Math.floor(nowMs / 1000), micros, args: packArgs(args, this.#allocArgs), addr: who.addr, name: who.name ?? '', ns: who.ns };
    if (this.#size < this.#maxLen) {
      this.#ring[(this.#start + this.#size) % this.#maxLen] = entry;
      this.#size++;
    } else {
      this.#ring[this.#start] = entry; // over the oldest
      this.#start = (this.#start + 1) % this.#maxLen;
    }
  }

  /**
   * `bytes` of this log's own slab (64 KiB slabs, a larger one for a larger entry). Entries leave
   * the ring oldest first, as they were cut from the slabs, so what the log holds is its entries'
   * bytes plus at most two partly used slabs: a shared Buffer pool slab kept alive by an entry
   * could have held up to 8 KiB per entry (80 MB at the largest `slowlog-max-len`).
   */
  #alloc(bytes: number): Buffer {
    if (this.#slabUsed + bytes > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
      this.#slabUsed = 0;
    }
    const out = this.#slab.subarray(this.#slabUsed, this.#slabUsed + bytes);
    this.#slabUsed += bytes;
    return out;
  }

  /** Up to `count` entries, newest first. */
  #newestFirst(count: number): SlowEntry[] {
    const out: SlowEntry[] = [];
    for (let i = this.#size - 1; i >= 0 && out.length < count; i--) out.push(this.#ring[(this.#start + i) % this.#maxLen]);
    return out;
  }

  /** Newest first, at most `count` (-1: all) of those `visible` admits. */
  get(count: number, visible: (e: SlowEntry) => boolean = () => true): SlowEntry[] {
    const out: SlowEntry[] = [];
    for (const e of this.#newestFirst(this.#size)) {
      if (count >= 0 && out.length >= count) break;
      if (visible(e)) out.push(e);
    }
    return out;
  }

  len(visible: (e: SlowEntry) => boolean = () => true): number {
    return this.#newestFirst(this.#size).filter(visible).length;
  }

  reset(): void {
    this.#ring = [];
    this.#start = 0;
    this.#size = 0;
  }
}

/** One latency event's record (LATENCY LATEST / HISTORY). */
interface LatencyEvent {
  /** [unix seconds, ms] oldest first, one per second (the worst of that second), at most LATENCY_HISTORY_LEN. */
  samples: Array<[number, number]>;
  max: number;
}

/** The latency monitor: per event, the worst latency of each second it was over the threshold. */
export class LatencyMonitor {
  /** ms; 0: off (Redis's `latency-monitor-threshold`). */
  thresholdMs = 0;
  readonly #events = new Map<string, LatencyEvent>();

  /** Records `ms` for `event` when the monitor is on and `ms` reaches the threshold. */
  observe(event: string, ms: number, nowMs: number): void {
    if (this.thresholdMs <= 0 || ms < this.thresholdMs) return;
    const time = Math.floor(nowMs / 1000);
    const ms0 = Math.round(ms);
    let e = this.#events.get(event);
    if (e === undefined) this.#events.set(event, (e = { samples: [], max: 0 }));
    const last = e.samples[e.samples.length - 1];
    if (last !== undefined && last[0] === time) last[1] = Math.max(last[1], ms0);
    else {
      if (e.samples.length >= LATENCY_HISTORY_LEN) e.samples.shift();
      e.samples.push([time, ms0]);
    }
    e.max = Math.max(e.max, ms0);
  }

  /** LATENCY LATEST: [event, time of the latest sample, its ms, the event's max ms]. */
  latest(): Array<[string, number, number, number]> {
    return [...this.#events].map(([name, e]) => {
      const [time, ms] = e.samples[e.samples.length - 1];
      return [name, time, ms, e.max];
    });
  }

  /** LATENCY HISTORY event: its samples, oldest first (none for an unknown event). */
  history(event: string): ReadonlyArray<readonly [number, number]> {
    return this.#events.get(event)?.samples ?? [];
  }

  /** LATENCY RESET [event ...]: how many events it removed (no names: all). */
  reset(events: readonly string[]): number {
    if (events.length === 0) {
      const n = this.#events.size;
      this.#events.clear();
      return n;
    }
    let n = 0;
    for (const name of new Set(events)) if (this.#events.delete(name)) n++;
    return n;
  }

  /** LATENCY DOCTOR: a short human report of what was recorded. */
  doctor(): string {
    if (this.thresholdMs <= 0) {
      return 'I\'m sorry, Dave, I can\'t do that. Latency monitoring is disabled in this Redis instance. You may use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it. If we weren\'t in a deep space mission I\'d suggest to take a look at https://redis.io/topics/latency-monitor.\n';
    }
    if (this.#events.size === 0) return 'Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n';
    const lines = [...this.#events].map(([name, e], i) => {
      const avg = Math.round(e.samples.reduce((sum, [, ms]) => sum + ms, 0) / e.samples.length);
      return `${i + 1}. ${name}: ${e.samples.length} latency spikes (average ${avg}ms, worst ${e.max}ms) over the last ${LATENCY_HISTORY_LEN} seconds at most.`;
    });
    return `Dave, I have observed latency spikes in this proxy (commands timed in the proxy, node round trips included).\n\n${lines.join('\n')}\n`;
  }
}

/**
 * The slow log and the latency monitor fed by one check per finished command: `floorSeconds` is
 * the smaller threshold in seconds (Infinity while both are off), recomputed when either changes.
 */
export class CommandTimer {
  readonly slowlog = new Slowlog();
  readonly latency = new LatencyMonitor();
  floorSeconds = SLOWLOG_DEFAULT_THRESHOLD_US / 1e6;

  /** Sets the thresholds (CONFIG SET): µs for the slow log (negative: off), ms for the latency monitor (0: off). */
  configure(slowMicros: number, latencyMs: number): void {
    this.slowlog.thresholdMicros = slowMicros;
    this.latency.thresholdMs = latencyMs;
    const slow = slowMicros < 0 ? Infinity : slowMicros / 1e6;
    const latency = latencyMs <= 0 ? Infinity : latencyMs / 1000;
    this.floorSeconds = Math.min(slow, latency);
  }

  /** A command of `who` took `seconds` (at or above `floorSeconds`, checked by the caller). */
  observe(args: readonly Buffer[], seconds: number, who: { addr: string; name: string | null; ns: string }, nowMs: number): void {
    this.slowlog.observe(args, Math.round(seconds * 1e6), who, nowMs);
    this.latency.observe('command', seconds * 1000, nowMs);
  }
}

/** Samples OpsRate keeps (Redis's STATS_METRIC_SAMPLES). */
const RATE_SAMPLES = 16;
/** Least time between two samples, ms (Redis samples every 100 ms). */
const RATE_MIN_STEP_MS = 100;

/**
 * instantaneous_ops_per_sec: the command counter sampled by the listener's timer (never per
 * command) into a ring of 16; the rate is the counter's growth since the oldest sample.
 */
export class OpsRate {
  readonly #times = new Float64Array(RATE_SAMPLES);
  readonly #counts = new Float64Array(RATE_SAMPLES);
  #n = 0;

  sample(nowMs: number, count: number): void {
    const last = (this.#n - 1) % RATE_SAMPLES;
    if (this.#n > 0 && nowMs - this.#times[last] < RATE_MIN_STEP_MS) return;
    const at = this.#n % RATE_SAMPLES;
    this.#times[at] = nowMs;
    this.#counts[at] = count;
    this.#n++;
  }

  /** Commands per second between the oldest sample and (`nowMs`, `count`); 0 without a sample. */
  perSecond(nowMs: number, count: number): number {
    if (this.#n === 0) return 0;
    const oldest = this.#n < RATE_SAMPLES ? 0 : this.#n % RATE_SAMPLES;
    const elapsed = nowMs - this.#times[oldest];
    return elapsed <= 0 ? 0 : Math.round(((count - this.#counts[oldest]) * 1000) / elapsed);
  }
}
