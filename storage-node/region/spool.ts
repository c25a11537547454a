import fs from 'node:fs';
import path from 'node:path';
import type { RegionInvalidation } from '../../shared/regions';

/** Rewrite the file once this many acknowledged lines precede the pending ones (and they are most of it). */
const COMPACT_LINES = 10_000;

/** What a spool line holds: an invalidation, or an acknowledgement up to a seq. */
type Line = RegionInvalidation | { ack: number };

/**
 * The invalidations of one peer region that it has not acknowledged, in `seq` order: in memory,
 * and appended to `<dataDir>/regions/<peer>.spool` (JSON lines) when the node has a data dir, so
 * a sender that restarts (or dies) sends them after its restart. Lines are written in one
 * `appendFileSync` per turn (`flush`, which the node calls before a turn's replies leave), so an
 * acknowledged write's invalidation is on disk before its client hears of it. Acknowledgements
 * are lines too; the file is rewritten with the pending lines once acknowledged ones dominate.
 *
 * Bound: `max` invalidations. Past it the spool spills: its invalidations are replaced by one
 * wholesale invalidation per namespace they named (the peer drops those namespaces whole), which
 * is counted (`overflows`) and said by the sender; new invalidations queue behind as usual.
 */
export class RegionSpool {
  readonly peer: string;
  readonly #items: RegionInvalidation[] = [];
  /** Index of the first item not acknowledged (the array is trimmed now and then). */
  #head = 0;
  #nextSeq = 0;
  readonly #max: number;
  readonly #file: string | undefined;
  #pendingLines: string[] = [];
  #linesInFile = 0;
  overflows = 0;
  /** Invalidations acknowledged by the peer. */
  sent = 0;

  constructor(peer: string, max: number, dataDir: string | undefined) {
    this.peer = peer;
    this.#max = max;
    this.#file = dataDir === undefined ? undefined : path.join(dataDir, 'regions', `${peer}.spool`);
    if (this.#file !== undefined) this.#load(this.#file);
  }

  /** Invalidations waiting for the peer. */
  get depth(): number {
    return this.#items.length - this.#head;
  }

  /** When the oldest waiting invalidation's write was applied (0: none waiting). */
  get oldestAt(): number {
    return this.depth === 0 ? 0 : this.#items[this.#head].at;
  }

  /** Whether lines wait to be written to disk. */
  get unflushed(): boolean {
    return this.#pendingLines.length !== 0;
  }

  /** Queues one invalidation (key, tag, or neither: the namespace). */
  add(ns: string, key: string | null, tag: string | null, at: number): void {
    if (this.depth >= this.#max) this.#spill(at);
    const item: RegionInvalidation = { seq: this.#nextSeq++, ns, key, tag, at };
    this.#items.push(item);
    this.#write(item);
  }

  /** Up to `max` waiting invalidations from the oldest (not removed: `ack` does). */
  peek(max: number): RegionInvalidation[] {
    return this.#items.slice(this.#head, this.#head + max);
  }

  /** The peer applied everything up to `seq`. */
  ack(seq: number): void {
    let n = 0;
    while (this.#head < this.#items.length && this.#items[this.#head].seq <= seq) {
      this.#head++;
      n++;
    }
    if (n === 0) return;
    this.sent += n;
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    this.#write({ ack: seq });
    if (this.#linesInFile > COMPACT_LINES && this.#linesInFile > 2 * this.depth) this.#compact();
  }

  /** Why the last disk write failed (the invalidations stay in memory and are sent), or null. */
  diskError: string | null = null;

  /**
   * Writes the lines of this turn to disk (one system call). A failed write (a full disk, a
   * permission) keeps the lines for the next call and says why in `diskError`: the invalidations
   * are still held in memory and sent, only a restart would lose them meanwhile.
   */
  flush(): void {
    if (this.#pendingLines.length === 0 || this.#file === undefined) {
      this.#pendingLines = [];
      return;
    }
    // Bounded like the spool: past twice its bound, the oldest lines not yet on disk give way.
    if (this.#pendingLines.length > 2 * this.#max) this.#pendingLines.splice(0, this.#pendingLines.length - 2 * this.#max);
    const text = this.#pendingLines.join('');
    try {
      fs.appendFileSync(this.#file, text);
    } catch (err) {
      this.diskError = `the spool file ${this.#file} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      return;
    }
    this.diskError = null;
    this.#linesInFile += this.#pendingLines.length;
    this.#pendingLines = [];
  }

  #write(line: Line): void {
    if (this.#file !== undefined) this.#pendingLines.push(`${JSON.stringify(line)}\n`);
  }

  /** Replaces every waiting invalidation with one wholesale invalidation per namespace they named. */
  #spill(at: number): void {
    const namespaces = new Set<string>();
    for (let i = this.#head; i < this.#items.length; i++) namespaces.add(this.#items[i].ns);
    this.#items.length = 0;
    this.#head = 0;
    this.overflows++;
    const wholesale = [...namespaces];
    for (const ns of wholesale) this.#items.push({ seq: this.#nextSeq++, ns, key: null, tag: null, at });
    // On disk: the file is rewritten with just these (the spilled lines are gone for good).
    this.#compact();
  }

  /** Rewrites the file with the waiting invalidations only (left as it is when the disk refuses). */
  #compact(): void {
    if (this.#file === undefined) return;
    this.flush();
    if (this.diskError !== null) return;
    const tmp = `${this.#file}.tmp`;
    const lines = this.#items.slice(this.#head).map((item) => `${JSON.stringify(item)}\n`);
    try {
      fs.writeFileSync(tmp, lines.join(''));
      fs.renameSync(tmp, this.#file);
    } catch (err) {
      this.diskError = `the spool file ${this.#file} cannot be rewritten (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      return;
    }
    this.#linesInFile = lines.length;
  }

  /** Reads what a previous run left: the invalidations it had not seen acknowledged. */
  #load(file: string): void {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (err) {
      this.diskError = `the spool directory ${path.dirname(file)} cannot be made (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      return;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    let acked = -1;
    const items: RegionInvalidation[] = [];
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // a line cut by a crash mid-write
      }
      if ('ack' in line && typeof line.ack === 'number') acked = Math.max(acked, line.ack);
      else if ('seq' in line && typeof line.seq === 'number' && typeof (line as RegionInvalidation).ns === 'string') items.push(line as RegionInvalidation);
    }
    let next = acked + 1;
    for (const item of items) {
      if (item.seq > acked) this.#items.push(item);
      if (item.seq >= next) next = item.seq + 1;
    }
    this.#nextSeq = Math.max(next, 0);
    this.#compact();
  }
}
