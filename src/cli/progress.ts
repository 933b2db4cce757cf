import type { CommitProgress } from '../commit/commit.js';
import type { CheckoutProgress } from '../checkout/checkout.js';

/**
 * A one-line progress display on stderr, redrawn at most every 100 ms, only when stderr is a
 * terminal: scripts and pipes see nothing. `done()` clears the line.
 */
export class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly started = Date.now();

  constructor(
    private readonly enabled = process.stderr.isTTY === true && process.env['GROVE_NO_PROGRESS'] !== '1',
    private readonly intervalMs = 100,
  ) {}

  /** Redraws the line; `text` is called only when the line is due, so callers may call often. */
  show(text: () => string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return;
    this.last = now;
    this.shown = true;
    process.stderr.write(`\r\x1b[K${text()}`);
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }

  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** `commit: 1200/6000 files, 120.0/550.0 MB, 85.3 MB/s, ETA 5 s` (totals grow while walking). */
export function describeCommitProgress(p: CommitProgress, seconds: number): string {
  const rate = seconds > 0 ? p.bytesDone / seconds : 0;
  const total = p.walkDone ? '' : '+';
  let s = `commit: ${p.filesDone}/${p.filesFound}${total} files, ${mb(p.bytesDone)}/${mb(p.bytesFound)}${total}, ${mb(rate)}/s`;
  if (p.walkDone && rate > 0) s += `, ETA ${Math.ceil((p.bytesFound - p.bytesDone) / rate)} s`;
  return s;
}

/** `checkout: 1200 files, 300 directories, 850 files/s` (the commit records no file count). */
export function describeCheckoutProgress(p: CheckoutProgress, seconds: number): string {
  const rate = seconds > 0 ? p.files / seconds : 0;
  return `checkout: ${p.files} files, ${p.directories} directories, ${rate.toFixed(0)} files/s`;
}
