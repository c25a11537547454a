import type { ClusterFrame } from '../../sample/sampler';
import { SeriesWindow, type SeriesJson } from '../../sample/series';
import { failureText } from '../../errors';
import type { DashboardFrame } from './frame';

/** A client of the hub: an open event stream, or a one-shot waiter of `snapshot`. */
export interface DashboardSubscriber {
  /** Delivers one event; false when the client does not keep up (it is then dropped). */
  send(data: string, event?: string): boolean;
  /** Ends the client (the hub dropped it, or the hub closes). */
  close(): void;
}

/** The sampler as the hub drives it. */
export interface FrameSource {
  next(): Promise<ClusterFrame>;
  /** Drops its connections and its previous frame (called when the last client leaves). */
  close(): Promise<void>;
}

export interface DashboardHubOptions {
  sampler: FrameSource;
  /** Joins a sample (or its failure, with the last good sample) with what the service holds. */
  compose(frame: ClusterFrame | undefined, error: string | undefined, now: number): DashboardFrame;
  /** Time between the starts of two samples (default 1000 ms). */
  intervalMs?: number;
  /** How far back the charts' series go (default 5 minutes). */
  windowMs?: number;
  /** Milliseconds since the epoch (tests pass a fake). */
  now?: () => number;
}

/**
 * The one sampler behind every open dashboard: while at least one client is subscribed it takes a
 * sample every `intervalMs` and sends each client the same JSON frame, so N dashboards cost one
 * scrape of the cluster per second, not N. With no client it does nothing at all (no timer, no
 * node connection): the loop stops after the last client leaves and starts with the next one.
 * A new client first gets the charts' history and the latest frame. Nothing here is on a request
 * path of the cache; the samples are the same reads `shardctl top` makes.
 *
 *   subscribe ─► (first client) loop: sampler.next ─► compose ─► series.push ─► send to all ─► sleep
 *   unsubscribe ─► (last client) loop ends after its sample in flight ─► sampler.close
 */
export class DashboardHub {
  readonly #options: DashboardHubOptions;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #series: SeriesWindow;
  readonly #clients = new Set<DashboardSubscriber>();
  /** One-shot waiters of `snapshot`: they keep the loop going until a frame with rates comes. */
  readonly #waiters = new Set<DashboardSubscriber>();
  #latest: DashboardFrame | undefined;
  #latestJson: string | undefined;
  #lastGood: ClusterFrame | undefined;
  /** The loop runs: a sample is in flight or the timer is set. */
  #running = false;
  #inFlight = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #samples = 0;

  constructor(options: DashboardHubOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#series = new SeriesWindow(options.windowMs);
  }

  /** Open streams. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Whether the sampling loop runs (tests and the bench check it stops). */
  get running(): boolean {
    return this.#running;
  }

  /** Samples taken since the hub was made. */
  get samples(): number {
    return this.#samples;
  }

  /** The charts' window so far. */
  history(): SeriesJson {
    return this.#series.toJSON();
  }

  /** Adds a stream: it gets the history and the latest frame now, then every frame; returns its unsubscribe. */
  subscribe(client: DashboardSubscriber): () => void {
    if (this.#closed) {
      client.close();
      return () => undefined;
    }
    this.#clients.add(client);
    client.send(JSON.stringify(this.#series.toJSON()), 'history');
    if (this.#latestJson !== undefined) client.send(this.#latestJson);
    this.#start();
    return () => this.#leave(client);
  }

  /**
   * The latest frame with rates: at once while the loop runs, else the loop runs for two samples
   * (rates need two reads) and stops again. Concurrent callers share those samples. Bounded: after
   * `timeoutMs` the latest frame there is (maybe without rates), or an error.
   */
  snapshot(timeoutMs = 5000): Promise<DashboardFrame> {
    if (this.#running && this.#latest !== undefined && this.#latest.elapsedMs !== null) return Promise.resolve(this.#latest);
    if (this.#closed) return Promise.reject(new Error('the dashboard is shutting down'));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: DashboardSubscriber = {
        send: () => {
          if (this.#latest !== undefined && (this.#latest.elapsedMs !== null || this.#latest.error !== null)) finish();
          return true;
        },
        close: () => finish(),
      };
      const finish = (): void => {
        clearTimeout(timer);
        if (!this.#waiters.delete(waiter)) return;
        this.#stopIfIdle();
        if (this.#latest !== undefined) resolve(this.#latest);
        else reject(new Error(this.#closed ? 'the dashboard is shutting down' : `no sample within ${timeoutMs} ms`));
      };
      timer = setTimeout(finish, timeoutMs);
      this.#waiters.add(waiter);
      this.#start();
    });
  }

  /** Ends every client and the loop; closes the sampler. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const client of [...this.#clients, ...this.#waiters]) client.close();
    this.#clients.clear();
    this.#waiters.clear();
    if (!this.#inFlight) this.#running = false;
    await this.#options.sampler.close();
  }

  #leave(client: DashboardSubscriber): void {
    if (!this.#clients.delete(client)) return;
    this.#stopIfIdle();
  }

  #stopIfIdle(): void {
    if (this.#clients.size > 0 || this.#waiters.size > 0 || !this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // A sample in flight ends the loop itself when it sees nobody left.
    if (!this.#inFlight) this.#idle();
  }

  #idle(): void {
    this.#running = false;
    this.#lastGood = undefined;
    void this.#options.sampler.close().catch(() => undefined);
  }

  #start(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#tick();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    this.#inFlight = true;
    const started = this.#now();
    let frame: ClusterFrame | undefined;
    let error: string | undefined;
    try {
      frame = await this.#options.sampler.next();
      this.#lastGood = frame;
    } catch (err) {
      error = failureText(err);
    }
    this.#inFlight = false;
    this.#samples += 1;
    if (this.#closed) {
      this.#running = false;
      return;
    }
    const now = this.#now();
    const composed = this.#options.compose(frame ?? this.#lastGood, error, now);
    this.#series.push(composed.point.t, composed.point.values);
    this.#latest = composed;
    this.#latestJson = JSON.stringify(composed);
    for (const client of [...this.#clients]) {
      if (!client.send(this.#latestJson)) {
        this.#clients.delete(client);
        client.close();
      }
    }
    for (const waiter of [...this.#waiters]) waiter.send(this.#latestJson);
    // A waiter served above may have ended the loop already (its finish stops an idle hub).
    if (!this.#running) return;
    if (this.#clients.size === 0 && this.#waiters.size === 0) return this.#idle();
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, this.#intervalMs - (now - started)));
  }
}
