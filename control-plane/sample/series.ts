/**
 * The last few minutes of the dashboard's charts: one point per sample, a column per series
 * (`ops:0`, `req:http://p:9100`...), aligned on one time axis as uPlot wants them. Pure (the
 * caller passes the time). Bounded by age and by count, so a service that samples for days
 * holds the same few hundred points.
 */

/** One sample's values by series name; null where the figure is unknown (a node that did not answer). */
export type SeriesValues = Record<string, number | null>;

/** A point as the page receives it with each frame. */
export interface SeriesPoint {
  /** Milliseconds since the epoch. */
  t: number;
  values: SeriesValues;
}

/** The window as JSON: `t` ascending; each series has one value per `t` (null for a gap). */
export interface SeriesJson {
  t: number[];
  series: Record<string, Array<number | null>>;
}

export class SeriesWindow {
  #t: number[] = [];
  #columns = new Map<string, Array<number | null>>();

  /** `windowMs`: how far back points are kept; `maxPoints`: at most this many whatever their age. */
  constructor(readonly windowMs = 5 * 60_000, readonly maxPoints = 600) {}

  /**
   * Appends a point at `t`. A series seen for the first time gets nulls before it; a series the
   * point lacks gets a null. A `t` not after the last point replaces nothing: it is dropped (the
   * axis must ascend). Points older than `t - windowMs` and beyond `maxPoints` go, and with them
   * series that hold only nulls.
   */
  push(t: number, values: SeriesValues): void {
    if (this.#t.length > 0 && t <= this.#t[this.#t.length - 1]) return;
    const before = this.#t.length;
    this.#t.push(t);
    for (const name of Object.keys(values)) {
      if (!this.#columns.has(name)) this.#columns.set(name, new Array<number | null>(before).fill(null));
    }
    for (const [name, column] of this.#columns) {
      const v = values[name];
      column.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
    }
    let drop = 0;
    while (drop < this.#t.length && (this.#t[drop] < t - this.windowMs || this.#t.length - drop > this.maxPoints)) drop++;
    if (drop > 0) {
      this.#t.splice(0, drop);
      for (const column of this.#columns.values()) column.splice(0, drop);
    }
    for (const [name, column] of this.#columns) {
      if (column.every((v) => v === null)) this.#columns.delete(name);
    }
  }

  get size(): number {
    return this.#t.length;
  }

  toJSON(): SeriesJson {
    const series: SeriesJson['series'] = {};
    for (const [name, column] of [...this.#columns].sort((a, b) => a[0].localeCompare(b[0]))) series[name] = [...column];
    return { t: [...this.#t], series };
  }
}
