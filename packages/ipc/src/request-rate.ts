import { PluginError } from '@plugward/types';

/** How fast the host serves one plugin's own requests (context, fetch, registrations; log lines have their own budget): a token bucket. */
export interface RequestRate {
  /** Requests served per second once the burst is spent. */
  perSecond: number;
  /** Requests served at once after a quiet period. */
  burst: number;
}

/**
 * Default {@link RequestRate}: 2000 requests/s, burst 10 000 — far above what a plugin's hooks ask of the context in
 * normal use, and at the host's ≈ 20–40 µs per served request a few percent of one core per plugin.
 */
export const DEFAULT_REQUEST_RATE: Readonly<RequestRate> = Object.freeze({ perSecond: 2000, burst: 10_000 });

/**
 * The registry's `IpcChannelOptions.requestByteRate` for untrusted plugins, in bytes: 4 MiB a second, 24 MiB at once
 * (one request of the largest frame, 16 MiB, and more) — far above what context writes, log lines and fetch requests
 * of a plugin's normal work add up to; at the host's ≈ 4 ms of CPU per MiB read, joined and decoded, ≈ 2 % of a core
 * sustained.
 */
export const DEFAULT_REQUEST_BYTE_RATE: Readonly<RequestRate> = Object.freeze({
  perSecond: 4 * 1024 * 1024,
  burst: 24 * 1024 * 1024,
});

/**
 * Paces a plugin's requests to the host. Each request takes a token; past the burst a request is scheduled at the
 * time its token refills and waits until then (the plugin's calls get slower, none is refused or lost). Requests that
 * wait are held by the channel's own bounds (`maxConcurrentRequests`, `maxQueuedRequests`: past those the peer's
 * requests are refused with `QuotaExceeded`), so a plugin asking as fast as it can costs the host at most `perSecond`
 * served requests a second.
 */
export class RequestPacer {
  readonly #rate: RequestRate;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(rate: Partial<RequestRate> = {}, now: () => number = () => performance.now()) {
    const r = { ...DEFAULT_REQUEST_RATE, ...rate };
    if (typeof r.perSecond !== 'number' || !Number.isFinite(r.perSecond) || r.perSecond <= 0) {
      throw new PluginError('InvalidArgument', 'request rate perSecond must be a positive number');
    }
    if (typeof r.burst !== 'number' || !Number.isFinite(r.burst) || r.burst < 1) {
      throw new PluginError('InvalidArgument', 'request rate burst must be a number of at least 1');
    }
    this.#rate = r;
    this.#now = now;
    this.#tokens = r.burst;
    this.#last = now();
  }

  /**
   * Takes `n` more tokens after the fact (a request that cost more than one: a refused one), so the requests after
   * it wait longer.
   */
  debit(n: number): void {
    this.#tokens -= n;
  }

  /** Takes a token: how long, ms, this request must wait before it is served (0: at once). */
  take(): number {
    const t = this.#now();
    const dt = Math.max(0, t - this.#last) / 1000;
    this.#last = t;
    this.#tokens = Math.min(this.#rate.burst, this.#tokens + dt * this.#rate.perSecond);
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#rate.perSecond;
  }
}
