/**
 * bsdiff (Colin Percival's algorithm) writing the raw patch stream ostree's deltas carry: for
 * each stretch, a control triple of 8-byte sign-magnitude little-endian integers (bytes to add
 * to the old file's, bytes to copy, how far to move in the old file), then those diff bytes and
 * those extra bytes; no header and no compression (the delta part is compressed as a whole).
 * bspatch.ts applies it.
 *
 * Written here: the npm bsdiff packages build a native addon at install time (which this
 * project's install does not run) and write the BSDIFF40 file format, not this stream. The
 * suffix array is Larsson and Sadakane's qsufsort, as in bsdiff itself: 8 bytes of index per
 * byte of the old file, so ostree's 128 MB bsdiff limit bounds the memory.
 *
 * bsdiff's scan is quadratic on highly repetitive files (300 kB of "abcabc…" took 72 s, where
 * 8 MB of random bytes take 4 s): the bytes it compares are counted, and past `effort` times
 * the files' size it gives up and returns null, and the file travels whole. ostree avoids most
 * such files by trying its rolling checksum first.
 */
export function bsdiff(old: Uint8Array, neu: Uint8Array, effort = 64): Uint8Array | null {
  const budget = { left: effort * (old.length + neu.length) + (1 << 24) };
  const I = suffixArray(old);
  const out = new PatchWriter(neu.length + 1024);
  const oldSize = old.length;
  const newSize = neu.length;
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  const found = { pos: 0 };
  while (scan < newSize) {
    let oldScore = 0;
    let scsc = (scan += len);
    for (; scan < newSize; scan++) {
      len = search(I, old, neu, scan, 0, oldSize, found, budget);
      if (budget.left < 0) return null;
      pos = found.pos;
      for (; scsc < scan + len; scsc++) if (scsc + lastOffset < oldSize && old[scsc + lastOffset] === neu[scsc]) oldScore++;
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      if (scan + lastOffset < oldSize && old[scan + lastOffset] === neu[scan]) oldScore--;
    }
    if (len === oldScore && scan !== newSize) continue;
    // Extend the last match forwards and this one backwards, as far as they pay.
    let s = 0;
    let best = 0;
    let lenF = 0;
    for (let i = 0; lastScan + i < scan && lastPos + i < oldSize;) {
      if (old[lastPos + i] === neu[lastScan + i]) s++;
      i++;
      if (s * 2 - i > best * 2 - lenF) {
        best = s;
        lenF = i;
      }
    }
    let lenB = 0;
    if (scan < newSize) {
      s = 0;
      best = 0;
      for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
        if (old[pos - i] === neu[scan - i]) s++;
        if (s * 2 - i > best * 2 - lenB) {
          best = s;
          lenB = i;
        }
      }
    }
    if (lastScan + lenF > scan - lenB) {
      const overlap = lastScan + lenF - (scan - lenB);
      s = 0;
      best = 0;
      let lenS = 0;
      for (let i = 0; i < overlap; i++) {
        if (neu[lastScan + lenF - overlap + i] === old[lastPos + lenF - overlap + i]) s++;
        if (neu[scan - lenB + i] === old[pos - lenB + i]) s--;
        if (s > best) {
          best = s;
          lenS = i + 1;
        }
      }
      lenF += lenS - overlap;
      lenB -= lenS;
    }
    const extra = scan - lenB - (lastScan + lenF);
    out.control(lenF, extra, pos - lenB - (lastPos + lenF));
    out.diff(neu, lastScan, old, lastPos, lenF);
    out.bytes(neu.subarray(lastScan + lenF, lastScan + lenF + extra));
    lastScan = scan - lenB;
    lastPos = pos - lenB;
    lastOffset = pos - scan;
  }
  return out.result();
}

class PatchWriter {
  private buf: Uint8Array;
  private n = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  control(a: number, b: number, c: number): void {
    this.room(24);
    for (const v of [a, b, c]) {
      const m = Math.abs(v);
      const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.n, 8);
      view.setUint32(0, m % 0x100000000, true);
      view.setUint32(4, Math.floor(m / 0x100000000) | (v < 0 ? 0x80000000 : 0), true);
      this.n += 8;
    }
  }
  diff(neu: Uint8Array, at: number, old: Uint8Array, oldAt: number, len: number): void {
    this.room(len);
    for (let i = 0; i < len; i++) this.buf[this.n + i] = (neu[at + i]! - old[oldAt + i]!) & 0xff;
    this.n += len;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

interface Budget { left: number }

/** Length of the common prefix of old[a…] and neu[b…]. */
function matchLen(old: Uint8Array, a: number, neu: Uint8Array, b: number, budget: Budget): number {
  let i = 0;
  while (a + i < old.length && b + i < neu.length && old[a + i] === neu[b + i]) i++;
  budget.left -= i;
  return i;
}

/** Compares old[a…] with neu[b…] over the shorter of the two. */
function compare(old: Uint8Array, a: number, neu: Uint8Array, b: number, budget: Budget): number {
  const n = Math.min(old.length - a, neu.length - b);
  for (let i = 0; i < n; i++) {
    const d = old[a + i]! - neu[b + i]!;
    if (d !== 0) {
      budget.left -= i;
      return d;
    }
  }
  budget.left -= n;
  return 0;
}

/** The longest match of neu[at…] in old, by binary search of the suffix array between st and en. */
function search(I: Int32Array, old: Uint8Array, neu: Uint8Array, at: number, st: number, en: number, found: { pos: number }, budget: Budget): number {
  while (en - st >= 2) {
    const x = st + ((en - st) >> 1);
    if (compare(old, I[x]!, neu, at, budget) < 0) st = x;
    else en = x;
  }
  const x = matchLen(old, I[st]!, neu, at, budget);
  const y = matchLen(old, I[en]!, neu, at, budget);
  if (x > y) {
    found.pos = I[st]!;
    return x;
  }
  found.pos = I[en]!;
  return y;
}

/** The suffix array of `old` with the empty suffix first (oldSize + 1 entries), by qsufsort. */
function suffixArray(old: Uint8Array): Int32Array {
  const n = old.length;
  const I = new Int32Array(n + 1);
  const V = new Int32Array(n + 1);
  const buckets = new Int32Array(256);
  for (let i = 0; i < n; i++) buckets[old[i]!]++;
  for (let i = 1; i < 256; i++) buckets[i] += buckets[i - 1]!;
  for (let i = 255; i > 0; i--) buckets[i] = buckets[i - 1]!;
  buckets[0] = 0;
  for (let i = 0; i < n; i++) I[++buckets[old[i]!]!] = i;
  I[0] = n;
  for (let i = 0; i < n; i++) V[i] = buckets[old[i]!]!;
  V[n] = 0;
  for (let i = 1; i < 256; i++) if (buckets[i] === buckets[i - 1]! + 1) I[buckets[i]!] = -1;
  I[0] = -1;
  for (let h = 1; I[0] !== -(n + 1); h += h) {
    let len = 0;
    let i = 0;
    while (i < n + 1) {
      if (I[i]! < 0) {
        len -= I[i]!;
        i -= I[i]!;
      } else {
        if (len) I[i - len] = -len;
        len = V[I[i]!]! + 1 - i;
        split(I, V, i, len, h);
        i += len;
        len = 0;
      }
    }
    if (len) I[i - len] = -len;
  }
  for (let i = 0; i < n + 1; i++) I[V[i]!] = i;
  return I;
}

/** Sorts I[start, start+len) by V[I[k]+h], ternary quicksort, recursing only into the smaller side. */
function split(I: Int32Array, V: Int32Array, start: number, len: number, h: number): void {
  for (;;) {
    if (len < 16) {
      for (let k = start; k < start + len;) {
        let j = 1;
        let x = V[I[k]! + h]!;
        for (let i = 1; k + i < start + len; i++) {
          const v = V[I[k + i]! + h]!;
          if (v < x) {
            x = v;
            j = 0;
          }
          if (v === x) {
            const t = I[k + j]!;
            I[k + j] = I[k + i]!;
            I[k + i] = t;
            j++;
          }
        }
        for (let i = 0; i < j; i++) V[I[k + i]!] = k + j - 1;
        if (j === 1) I[k] = -1;
        k += j;
      }
      return;
    }
    const x = V[I[start + (len >> 1)]! + h]!;
    let jj = 0;
    let kk = 0;
    for (let i = start; i < start + len; i++) {
      const v = V[I[i]! + h]!;
      if (v < x) jj++;
      if (v === x) kk++;
    }
    jj += start;
    kk += jj;
    let i = start;
    let j = 0;
    let k = 0;
    while (i < jj) {
      const v = V[I[i]! + h]!;
      if (v < x) i++;
      else if (v === x) {
        const t = I[i]!;
        I[i] = I[jj + j]!;
        I[jj + j] = t;
        j++;
      } else {
        const t = I[i]!;
        I[i] = I[kk + k]!;
        I[kk + k] = t;
        k++;
      }
    }
    while (jj + j < kk) {
      if (V[I[jj + j]! + h] === x) j++;
      else {
        const t = I[jj + j]!;
        I[jj + j] = I[kk + k]!;
        I[kk + k] = t;
        k++;
      }
    }
    for (let m = 0; m < kk - jj; m++) V[I[jj + m]!] = kk - 1;
    if (jj === kk - 1) I[jj] = -1;
    const lowLen = jj - start;
    const highStart = kk;
    const highLen = start + len - kk;
    // The lower side must be split before the equal group's V is read by the higher one only in
    // the original order; both sides are independent once V of the middle is set.
    if (lowLen > 0 && highLen > 0) {
      if (lowLen < highLen) {
        split(I, V, start, lowLen, h);
        start = highStart;
        len = highLen;
      } else {
        split(I, V, highStart, highLen, h);
        len = lowLen;
      }
    } else if (lowLen > 0) {
      len = lowLen;
    } else if (highLen > 0) {
      start = highStart;
      len = highLen;
    } else {
      return;
    }
  }
}
