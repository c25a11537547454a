/**
 * Latency samples in one growable Float64Array (microseconds), sorted once at the end. Recording
 * allocates nothing until the preallocated capacity is full; then the array doubles.
 */
export class LatencyRecorder {
  #samples: Float64Array;
  #count = 0;

  constructor(initialCapacity: number) {
    this.#samples = new Float64Array(Math.max(1024, initialCapacity));
  }

  /** Samples recorded so far. */
  get count(): number {
    return this.#count;
  }

  record(micros: number): void {
    if (this.#count === this.#samples.length) this.#grow();
    this.#samples[this.#count++] = micros;
  }

  /** Sorts the samples and returns the summary; call once, after the last `record`. */
  summarize(): LatencySummary {
    const sorted = this.#samples.subarray(0, this.#count).sort();
    const at = (q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) sum += sorted[i];
    return {
      samples: sorted.length,
      meanUs: sorted.length === 0 ? NaN : sum / sorted.length,
      p50Us: at(0.5),
      p99Us: at(0.99),
      p999Us: at(0.999),
      maxUs: sorted.length === 0 ? NaN : sorted[sorted.length - 1],
    };
  }

  #grow(): void {
    const bigger = new Float64Array(this.#samples.length * 2);
    bigger.set(this.#samples);
    this.#samples = bigger;
  }
}

/** Latency percentiles of one run, in microseconds. */
export interface LatencySummary {
  samples: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}
