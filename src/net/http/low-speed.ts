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
 *
 * Nothing is allocated per request and no timer is made per request: a pull makes thousands of
 * requests, and a watch object and a timer for each cost a pull of minbase about 0.4 s of CPU
 * (median of 4 alternating pulls from nginx, 4.73 s against 4.24 s with the limit off).
 */
export interface LowSpeedLimit {
  bytesPerSecond: number;
  seconds: number;
}

/** What the guard watches: a connection's request in flight, counted in place. */
export interface SpeedWatched {
  /** Bytes since the last tick. */
  speedBytes: number;
  /** When the last tick (or the request) began. */
  speedSince: number;
  /** Since when the request has been slow, or 0. */
  slowSince: number;
  /** The request was too slow: fail it. */
  tooSlow(message: string): void;
}

const TICK_MS = 1000;

/** The watched requests of one client, checked once a second while any is in flight. */
export class LowSpeedGuard {
  private total = 0;
  private readonly watched = new Set<SpeedWatched>();
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;

  private constructor(readonly limit: LowSpeedLimit) {}

  /** Null when the limit is off: libcurl needs both values non-zero. */
  static create(limit: LowSpeedLimit | undefined): LowSpeedGuard | null {
    return limit && limit.bytesPerSecond > 0 && limit.seconds > 0 ? new LowSpeedGuard(limit) : null;
  }

  /** Watches `w`'s request from now. */
  watch(w: SpeedWatched): void {
    w.speedBytes = 0;
    w.speedSince = Date.now();
    w.slowSince = 0;
    this.watched.add(w);
    if (this.timer === null) {
      this.lastTick = w.speedSince;
      this.total = 0;
      // Unref'd: the sockets keep the process alive while requests are in flight, not this.
      // It runs on through idle seconds (a tick with nothing watched does nothing) rather than
      // being made again for the next request; close() stops it.
      this.timer = setInterval(() => this.tick(), TICK_MS).unref();
    }
  }

  /** Counts `n` bytes received for `w`. */
  add(w: SpeedWatched, n: number): void {
    w.speedBytes += n;
    this.total += n;
  }

  unwatch(w: SpeedWatched): void {
    this.watched.delete(w);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.watched.clear();
  }

  private tick(): void {
    const now = Date.now();
    const { bytesPerSecond, seconds } = this.limit;
    const overall = (this.total * 1000) / Math.max(1, now - this.lastTick);
    this.lastTick = now;
    this.total = 0;
    if (this.watched.size === 0) return;
    const slow: SpeedWatched[] = [];
    for (const w of this.watched) {
      const rate = (w.speedBytes * 1000) / Math.max(1, now - w.speedSince);
      if (rate >= bytesPerSecond || overall >= bytesPerSecond) w.slowSince = 0;
      else if (w.slowSince === 0) w.slowSince = w.speedSince;
      w.speedBytes = 0;
      w.speedSince = now;
      if (w.slowSince !== 0 && now - w.slowSince >= seconds * 1000 - TICK_MS / 10) slow.push(w);
    }
    for (const w of slow) {
      this.watched.delete(w);
      w.tooSlow(`transfer too slow: less than ${bytesPerSecond} bytes/s for ${seconds} s`);
    }
  }
}
