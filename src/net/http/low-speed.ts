/**
 * The low-speed limit ostree (2023.7 and later) sets on libcurl: a transfer that stays slower
 * than `bytesPerSecond` for `seconds` in a row fails (CURLOPT_LOW_SPEED_LIMIT and _TIME). Speeds
 * are measured each second over that second, and any second at or above the limit starts the
 * count again, as libcurl's does.
 *
 * One difference: a request is not judged slow while the connections of its client together move
 * at least the limit. A pull keeps tens of requests in flight, and on a slow link each gets a
 * small share of it; libcurl, judging each alone, would fail them all (ostree keeps 8 in flight,
 * grove 32). A server that trickles one response still fails it, `seconds` after the others end.
 */
export interface LowSpeedLimit {
  bytesPerSecond: number;
  seconds: number;
}

/** One request being watched. */
export class SpeedWatch {
  bytes = 0;
  since: number;
  slowSince: number | null = null;

  constructor(readonly guard: LowSpeedGuard, readonly onSlow: (message: string) => void) {
    this.since = Date.now();
  }

  add(n: number): void {
    this.bytes += n;
    this.guard.total += n;
  }

  stop(): void {
    this.guard.unwatch(this);
  }
}

const TICK_MS = 1000;

/** The watches of one client, checked once a second while any is active. */
export class LowSpeedGuard {
  total = 0;
  private readonly watches = new Set<SpeedWatch>();
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;

  constructor(readonly limit: LowSpeedLimit) {}

  /** Null when the limit is off: libcurl needs both values non-zero. */
  static create(limit: LowSpeedLimit | undefined): LowSpeedGuard | null {
    return limit && limit.bytesPerSecond > 0 && limit.seconds > 0 ? new LowSpeedGuard(limit) : null;
  }

  /** Watches a request from now; `onSlow` is called once if it is too slow. */
  watch(onSlow: (message: string) => void): SpeedWatch {
    const w = new SpeedWatch(this, onSlow);
    this.watches.add(w);
    if (this.timer === null) {
      this.lastTick = Date.now();
      this.total = 0;
      // Unref'd: the sockets keep the process alive while requests are in flight, not this.
      this.timer = setInterval(() => this.tick(), TICK_MS).unref();
    }
    return w;
  }

  unwatch(w: SpeedWatch): void {
    this.watches.delete(w);
    if (this.watches.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = Date.now();
    const { bytesPerSecond, seconds } = this.limit;
    const overall = (this.total * 1000) / Math.max(1, now - this.lastTick);
    this.lastTick = now;
    this.total = 0;
    const slow: SpeedWatch[] = [];
    for (const w of this.watches) {
      const rate = (w.bytes * 1000) / Math.max(1, now - w.since);
      if (rate >= bytesPerSecond || overall >= bytesPerSecond) w.slowSince = null;
      else w.slowSince ??= w.since;
      w.bytes = 0;
      w.since = now;
      if (w.slowSince !== null && now - w.slowSince >= seconds * 1000 - TICK_MS / 10) slow.push(w);
    }
    for (const w of slow) {
      w.stop();
      w.onSlow(`transfer too slow: less than ${bytesPerSecond} bytes/s for ${seconds} s`);
    }
  }
}
