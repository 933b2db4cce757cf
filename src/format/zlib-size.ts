/**
 * The exact length of what zlib 1.2.13 (the system zlib ostree links, through GLib's
 * GZlibCompressor: raw deflate, windowBits 15, memLevel 8, default strategy) makes of a byte
 * stream at a level 1..9, without making it.
 *
 * `ostree commit --generate-sizes` records the size of each `.filez` ostree wrote, and those
 * sizes are part of the commit checksum. grove compresses with Node's zlib (Chromium's, whose
 * different hashing gives different, usually smaller output) or fflate; neither reproduces
 * zlib's bytes, so the sizes are computed here by running zlib's own algorithm: LZ77 with its
 * hash chains and lazy matching (deflate.c), and its choice per block between stored, fixed and
 * dynamic Huffman codes from the code lengths it would build (trees.c). Only lengths are
 * computed; no bits are emitted. The output does not depend on how the input is split into
 * chunks, as with zlib itself without flushes.
 *
 * Checked against the system zlib over many inputs and every level (test/format/zlib-size.test.ts).
 */

const MIN_MATCH = 3;
const MAX_MATCH = 258;
const MIN_LOOKAHEAD = MAX_MATCH + MIN_MATCH + 1;
const TOO_FAR = 4096;
const W_BITS = 15;
const W_SIZE = 1 << W_BITS;
const W_MASK = W_SIZE - 1;
const WINDOW_SIZE = 2 * W_SIZE;
const MAX_DIST = W_SIZE - MIN_LOOKAHEAD;
const MEM_LEVEL = 8;
const HASH_BITS = MEM_LEVEL + 7;
const HASH_SIZE = 1 << HASH_BITS;
const HASH_MASK = HASH_SIZE - 1;
const HASH_SHIFT = Math.floor((HASH_BITS + MIN_MATCH - 1) / MIN_MATCH);
const LIT_BUFSIZE = 1 << (MEM_LEVEL + 6);
/** zlib flushes a block when its symbol buffer holds this many symbols (sym_end / 3). */
const SYM_END = LIT_BUFSIZE - 1;
const NIL = 0;

const LITERALS = 256;
const END_BLOCK = 256;
const L_CODES = LITERALS + 1 + 29;
const D_CODES = 30;
const BL_CODES = 19;
const HEAP_SIZE = 2 * L_CODES + 1;
const MAX_BITS = 15;
const MAX_BL_BITS = 7;
const REP_3_6 = 16;
const REPZ_3_10 = 17;
const REPZ_11_138 = 18;

const EXTRA_LBITS = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const EXTRA_DBITS = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const EXTRA_BLBITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
const BL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** good_length, max_lazy, nice_length, max_chain, and whether the level uses deflate_slow. */
const CONFIG: ReadonlyArray<[number, number, number, number, boolean]> = [
  [0, 0, 0, 0, false],
  [4, 4, 8, 4, false],
  [4, 5, 16, 8, false],
  [4, 6, 32, 32, false],
  [4, 4, 16, 16, true],
  [8, 16, 32, 32, true],
  [8, 16, 128, 128, true],
  [8, 32, 128, 256, true],
  [32, 128, 258, 1024, true],
  [32, 258, 258, 4096, true],
];

// trees.c's tables: the length code of each match length - 3, the distance code of each distance.
const LENGTH_CODE = new Uint8Array(256);
const DIST_CODE = new Uint8Array(512);
const STATIC_LTREE_LEN = new Uint8Array(L_CODES + 2);
const STATIC_DTREE_LEN = new Uint8Array(D_CODES).fill(5);
{
  let length = 0;
  let code: number;
  for (code = 0; code < 28; code++) {
    for (let n = 0; n < 1 << EXTRA_LBITS[code]!; n++) LENGTH_CODE[length++] = code;
  }
  LENGTH_CODE[length - 1] = code;
  let dist = 0;
  for (code = 0; code < 16; code++) {
    for (let n = 0; n < 1 << EXTRA_DBITS[code]!; n++) DIST_CODE[dist++] = code;
  }
  dist >>= 7;
  for (; code < D_CODES; code++) {
    for (let n = 0; n < 1 << (EXTRA_DBITS[code]! - 7); n++) DIST_CODE[256 + dist++] = code;
  }
  for (let n = 0; n <= 143; n++) STATIC_LTREE_LEN[n] = 8;
  for (let n = 144; n <= 255; n++) STATIC_LTREE_LEN[n] = 9;
  for (let n = 256; n <= 279; n++) STATIC_LTREE_LEN[n] = 7;
  for (let n = 280; n <= 287; n++) STATIC_LTREE_LEN[n] = 8;
}

const dCode = (dist: number): number => (dist < 256 ? DIST_CODE[dist]! : DIST_CODE[256 + (dist >> 7)]!);

/**
 * A Huffman tree as trees.c keeps it: `fc` is Freq (and would be Code), `dl` is Dad and Len in
 * one field, as in zlib's unions: gen_bitlen reads a node's Dad after its parent's Dad has
 * become the parent's Len, and that sharing is part of the algorithm.
 */
interface Tree {
  fc: Int32Array;
  dl: Int32Array;
  maxCode: number;
  staticLen: Uint8Array | null;
  extra: number[];
  extraBase: number;
  elems: number;
  maxLength: number;
}

const newTree = (size: number, staticLen: Uint8Array | null, extra: number[], extraBase: number, elems: number, maxLength: number): Tree => ({
  fc: new Int32Array(size), dl: new Int32Array(size), maxCode: 0, staticLen, extra, extraBase, elems, maxLength,
});

export class ZlibSizer {
  private readonly window = new Uint8Array(WINDOW_SIZE);
  private readonly prev = new Uint16Array(W_SIZE);
  private readonly head = new Uint16Array(HASH_SIZE);
  private insH = 0;
  private strstart = 0;
  private blockStart = 0;
  private lookahead = 0;
  private insert = 0;
  private matchLength = MIN_MATCH - 1;
  private prevLength = MIN_MATCH - 1;
  private matchAvailable = false;
  private matchStart = 0;
  private prevMatch = 0;
  private readonly goodMatch: number;
  private readonly maxLazy: number;
  private readonly niceMatch: number;
  private readonly maxChain: number;
  private readonly slow: boolean;

  private readonly ltree = newTree(HEAP_SIZE, STATIC_LTREE_LEN, EXTRA_LBITS, LITERALS + 1, L_CODES, MAX_BITS);
  private readonly dtree = newTree(2 * D_CODES + 1, STATIC_DTREE_LEN, EXTRA_DBITS, 0, D_CODES, MAX_BITS);
  private readonly bltree = newTree(2 * BL_CODES + 1, null, EXTRA_BLBITS, 0, BL_CODES, MAX_BL_BITS);
  private readonly heap = new Int32Array(2 * L_CODES + 1);
  private heapLen = 0;
  private heapMax = 0;
  private readonly depth = new Uint8Array(2 * L_CODES + 1);
  private readonly blCount = new Int32Array(MAX_BITS + 1);
  private optLen = 0;
  private staticLen = 0;
  private syms = 0;

  /** Bits of output so far. */
  private bits = 0;
  private pending: Uint8Array[] = [];
  private pendingOff = 0;
  private pendingBytes = 0;
  private finished = false;

  constructor(level: number) {
    if (!Number.isInteger(level) || level < 1 || level > 9) throw new RangeError(`zlib level ${level} is not 1..9`);
    const [good, lazy, nice, chain, slow] = CONFIG[level]!;
    this.goodMatch = good;
    this.maxLazy = lazy;
    this.niceMatch = nice;
    this.maxChain = chain;
    this.slow = slow;
    this.initBlock();
  }

  /** More input (the caller may reuse `chunk` once this returns). */
  update(chunk: Uint8Array): void {
    if (this.finished) throw new Error('ZlibSizer: update after finish');
    if (chunk.length === 0) return;
    this.pending.push(chunk.slice());
    this.pendingBytes += chunk.length;
    this.run(false);
  }

  /** The length in bytes of the whole raw deflate stream. */
  finish(): number {
    if (!this.finished) {
      this.run(true);
      this.finished = true;
    }
    return this.bits >> 3;
  }

  // ---- deflate.c ----

  private readBuf(at: number, size: number): number {
    let n = 0;
    while (n < size && this.pending.length > 0) {
      const c = this.pending[0]!;
      const take = Math.min(size - n, c.length - this.pendingOff);
      this.window.set(c.subarray(this.pendingOff, this.pendingOff + take), at + n);
      n += take;
      this.pendingOff += take;
      if (this.pendingOff === c.length) {
        this.pending.shift();
        this.pendingOff = 0;
      }
    }
    this.pendingBytes -= n;
    return n;
  }

  private updateHash(h: number, c: number): number {
    return ((h << HASH_SHIFT) ^ c) & HASH_MASK;
  }

  /** INSERT_STRING: returns the previous head of the string's hash chain. */
  private insertString(str: number): number {
    this.insH = this.updateHash(this.insH, this.window[str + MIN_MATCH - 1]!);
    const h = this.head[this.insH]!;
    this.prev[str & W_MASK] = h;
    this.head[this.insH] = str;
    return h;
  }

  private fillWindow(): void {
    do {
      let more = WINDOW_SIZE - this.lookahead - this.strstart;
      if (this.strstart >= W_SIZE + MAX_DIST) {
        this.window.copyWithin(0, W_SIZE, W_SIZE + W_SIZE - more);
        this.matchStart -= W_SIZE;
        this.strstart -= W_SIZE;
        this.blockStart -= W_SIZE;
        if (this.insert > this.strstart) this.insert = this.strstart;
        for (let n = 0; n < HASH_SIZE; n++) {
          const m = this.head[n]!;
          this.head[n] = m >= W_SIZE ? m - W_SIZE : NIL;
        }
        for (let n = 0; n < W_SIZE; n++) {
          const m = this.prev[n]!;
          this.prev[n] = m >= W_SIZE ? m - W_SIZE : NIL;
        }
        more += W_SIZE;
      }
      if (this.pendingBytes === 0) break;
      const n = this.readBuf(this.strstart + this.lookahead, more);
      this.lookahead += n;
      if (this.lookahead + this.insert >= MIN_MATCH) {
        let str = this.strstart - this.insert;
        this.insH = this.window[str]!;
        this.insH = this.updateHash(this.insH, this.window[str + 1]!);
        while (this.insert) {
          this.insH = this.updateHash(this.insH, this.window[str + MIN_MATCH - 1]!);
          this.prev[str & W_MASK] = this.head[this.insH]!;
          this.head[this.insH] = str;
          str++;
          this.insert--;
          if (this.lookahead + this.insert < MIN_MATCH) break;
        }
      }
    } while (this.lookahead < MIN_LOOKAHEAD && this.pendingBytes !== 0);
    // zlib zeroes the window just past the data the first time it gets there (high_water);
    // this window starts zeroed and later holds what zlib's holds, so nothing is needed.
  }

  private longestMatch(curMatch: number): number {
    const w = this.window;
    let chainLength = this.maxChain;
    let scan = this.strstart;
    let bestLen = this.prevLength;
    let nice = this.niceMatch;
    const limit = this.strstart > MAX_DIST ? this.strstart - MAX_DIST : NIL;
    const strend = this.strstart + MAX_MATCH;
    let scanEnd1 = w[scan + bestLen - 1]!;
    let scanEnd = w[scan + bestLen]!;
    if (this.prevLength >= this.goodMatch) chainLength >>= 2;
    if (nice > this.lookahead) nice = this.lookahead;
    do {
      let match = curMatch;
      if (w[match + bestLen] !== scanEnd || w[match + bestLen - 1] !== scanEnd1 || w[match] !== w[scan] || w[++match] !== w[scan + 1]) continue;
      scan += 2;
      match++;
      // zlib compares 8 bytes per test of scan < strend, so it may run past strend by up to 7.
      while (
        w[++scan] === w[++match] && w[++scan] === w[++match] && w[++scan] === w[++match] && w[++scan] === w[++match]
        && w[++scan] === w[++match] && w[++scan] === w[++match] && w[++scan] === w[++match] && w[++scan] === w[++match]
        && scan < strend
      );
      const len = MAX_MATCH - (strend - scan);
      scan = strend - MAX_MATCH;
      if (len > bestLen) {
        this.matchStart = curMatch;
        bestLen = len;
        if (len >= nice) break;
        scanEnd1 = w[scan + bestLen - 1]!;
        scanEnd = w[scan + bestLen]!;
      }
    } while ((curMatch = this.prev[curMatch & W_MASK]!) > limit && --chainLength !== 0);
    return bestLen <= this.lookahead ? bestLen : this.lookahead;
  }

  private tallyLit(c: number): boolean {
    this.ltree.fc[c]!++;
    return ++this.syms === SYM_END;
  }

  private tallyDist(dist: number, lenMinus3: number): boolean {
    this.ltree.fc[LENGTH_CODE[lenMinus3]! + LITERALS + 1]!++;
    this.dtree.fc[dCode(dist - 1)]!++;
    return ++this.syms === SYM_END;
  }

  private flushBlock(last: boolean): void {
    this.trFlushBlock(this.blockStart >= 0, this.strstart - this.blockStart, last);
    this.blockStart = this.strstart;
  }

  /** Runs deflate_fast or deflate_slow over what input there is; `finish` is Z_FINISH. */
  private run(finish: boolean): void {
    if (this.slow) this.deflateSlow(finish);
    else this.deflateFast(finish);
  }

  private deflateFast(finish: boolean): void {
    for (;;) {
      if (this.lookahead < MIN_LOOKAHEAD) {
        this.fillWindow();
        if (this.lookahead < MIN_LOOKAHEAD && !finish) return;
        if (this.lookahead === 0) break;
      }
      let hashHead = NIL;
      if (this.lookahead >= MIN_MATCH) hashHead = this.insertString(this.strstart);
      if (hashHead !== NIL && this.strstart - hashHead <= MAX_DIST) this.matchLength = this.longestMatch(hashHead);
      let bflush: boolean;
      if (this.matchLength >= MIN_MATCH) {
        bflush = this.tallyDist(this.strstart - this.matchStart, this.matchLength - MIN_MATCH);
        this.lookahead -= this.matchLength;
        if (this.matchLength <= this.maxLazy && this.lookahead >= MIN_MATCH) {
          this.matchLength--;
          do {
            this.strstart++;
            this.insertString(this.strstart);
          } while (--this.matchLength !== 0);
          this.strstart++;
        } else {
          this.strstart += this.matchLength;
          this.matchLength = 0;
          this.insH = this.window[this.strstart]!;
          this.insH = this.updateHash(this.insH, this.window[this.strstart + 1]!);
        }
      } else {
        bflush = this.tallyLit(this.window[this.strstart]!);
        this.lookahead--;
        this.strstart++;
      }
      if (bflush) this.flushBlock(false);
    }
    this.insert = this.strstart < MIN_MATCH - 1 ? this.strstart : MIN_MATCH - 1;
    this.flushBlock(true);
  }

  private deflateSlow(finish: boolean): void {
    for (;;) {
      if (this.lookahead < MIN_LOOKAHEAD) {
        this.fillWindow();
        if (this.lookahead < MIN_LOOKAHEAD && !finish) return;
        if (this.lookahead === 0) break;
      }
      let hashHead = NIL;
      if (this.lookahead >= MIN_MATCH) hashHead = this.insertString(this.strstart);
      this.prevLength = this.matchLength;
      this.prevMatch = this.matchStart;
      this.matchLength = MIN_MATCH - 1;
      if (hashHead !== NIL && this.prevLength < this.maxLazy && this.strstart - hashHead <= MAX_DIST) {
        this.matchLength = this.longestMatch(hashHead);
        if (this.matchLength <= 5 && this.matchLength === MIN_MATCH && this.strstart - this.matchStart > TOO_FAR) this.matchLength = MIN_MATCH - 1;
      }
      if (this.prevLength >= MIN_MATCH && this.matchLength <= this.prevLength) {
        const maxInsert = this.strstart + this.lookahead - MIN_MATCH;
        const bflush = this.tallyDist(this.strstart - 1 - this.prevMatch, this.prevLength - MIN_MATCH);
        this.lookahead -= this.prevLength - 1;
        this.prevLength -= 2;
        do {
          if (++this.strstart <= maxInsert) this.insertString(this.strstart);
        } while (--this.prevLength !== 0);
        this.matchAvailable = false;
        this.matchLength = MIN_MATCH - 1;
        this.strstart++;
        if (bflush) this.flushBlock(false);
      } else if (this.matchAvailable) {
        const bflush = this.tallyLit(this.window[this.strstart - 1]!);
        if (bflush) this.flushBlock(false);
        this.strstart++;
        this.lookahead--;
      } else {
        this.matchAvailable = true;
        this.strstart++;
        this.lookahead--;
      }
    }
    if (this.matchAvailable) {
      this.tallyLit(this.window[this.strstart - 1]!);
      this.matchAvailable = false;
    }
    this.insert = this.strstart < MIN_MATCH - 1 ? this.strstart : MIN_MATCH - 1;
    this.flushBlock(true);
  }

  // ---- trees.c ----

  private initBlock(): void {
    this.ltree.fc.fill(0, 0, L_CODES);
    this.dtree.fc.fill(0, 0, D_CODES);
    this.bltree.fc.fill(0, 0, BL_CODES);
    this.ltree.fc[END_BLOCK] = 1;
    this.optLen = 0;
    this.staticLen = 0;
    this.syms = 0;
  }

  private smaller(t: Tree, n: number, m: number): boolean {
    const fn = t.fc[n]!;
    const fm = t.fc[m]!;
    return fn < fm || (fn === fm && this.depth[n]! <= this.depth[m]!);
  }

  private pqdownheap(t: Tree, k: number): void {
    const h = this.heap;
    const v = h[k]!;
    let j = k << 1;
    while (j <= this.heapLen) {
      if (j < this.heapLen && this.smaller(t, h[j + 1]!, h[j]!)) j++;
      if (this.smaller(t, v, h[j]!)) break;
      h[k] = h[j]!;
      k = j;
      j <<= 1;
    }
    h[k] = v;
  }

  private genBitlen(t: Tree): void {
    const { fc, dl, maxCode, staticLen, extra, extraBase, maxLength } = t;
    const h = this.heap;
    this.blCount.fill(0);
    dl[h[this.heapMax]!] = 0;
    let overflow = 0;
    let i: number;
    for (i = this.heapMax + 1; i < HEAP_SIZE; i++) {
      const n = h[i]!;
      let bits = dl[dl[n]!]! + 1;
      if (bits > maxLength) {
        bits = maxLength;
        overflow++;
      }
      dl[n] = bits;
      if (n > maxCode) continue;
      this.blCount[bits]!++;
      const xbits = n >= extraBase ? extra[n - extraBase]! : 0;
      const f = fc[n]!;
      this.optLen += f * (bits + xbits);
      if (staticLen) this.staticLen += f * (staticLen[n]! + xbits);
    }
    if (overflow === 0) return;
    do {
      let bits = maxLength - 1;
      while (this.blCount[bits] === 0) bits--;
      this.blCount[bits]!--;
      this.blCount[bits + 1]! += 2;
      this.blCount[maxLength]!--;
      overflow -= 2;
    } while (overflow > 0);
    for (let bits = maxLength; bits !== 0; bits--) {
      let n = this.blCount[bits]!;
      while (n !== 0) {
        const m = h[--i]!;
        if (m > maxCode) continue;
        if (dl[m] !== bits) {
          this.optLen += (bits - dl[m]!) * fc[m]!;
          dl[m] = bits;
        }
        n--;
      }
    }
  }

  private buildTree(t: Tree): void {
    const { fc, dl, staticLen, elems } = t;
    const h = this.heap;
    let maxCode = -1;
    this.heapLen = 0;
    this.heapMax = HEAP_SIZE;
    for (let n = 0; n < elems; n++) {
      if (fc[n] !== 0) {
        h[++this.heapLen] = maxCode = n;
        this.depth[n] = 0;
      } else {
        dl[n] = 0;
      }
    }
    while (this.heapLen < 2) {
      const node = (h[++this.heapLen] = maxCode < 2 ? ++maxCode : 0);
      fc[node] = 1;
      this.depth[node] = 0;
      this.optLen--;
      if (staticLen) this.staticLen -= staticLen[node]!;
    }
    t.maxCode = maxCode;
    for (let n = this.heapLen >> 1; n >= 1; n--) this.pqdownheap(t, n);
    let node = elems;
    do {
      const n = h[1]!;
      h[1] = h[this.heapLen--]!;
      this.pqdownheap(t, 1);
      const m = h[1]!;
      h[--this.heapMax] = n;
      h[--this.heapMax] = m;
      fc[node] = fc[n]! + fc[m]!;
      this.depth[node] = (this.depth[n]! >= this.depth[m]! ? this.depth[n]! : this.depth[m]!) + 1;
      dl[n] = dl[m] = node;
      h[1] = node++;
      this.pqdownheap(t, 1);
    } while (this.heapLen >= 2);
    h[--this.heapMax] = h[1]!;
    this.genBitlen(t);
    // gen_codes would now overwrite the frequencies with the codes; only lengths matter here.
  }

  private scanTree(t: Tree): void {
    const dl = t.dl;
    const bl = this.bltree.fc;
    let prevlen = -1;
    let nextlen = dl[0]!;
    let count = 0;
    let maxCount = 7;
    let minCount = 4;
    if (nextlen === 0) {
      maxCount = 138;
      minCount = 3;
    }
    dl[t.maxCode + 1] = 0xffff;
    for (let n = 0; n <= t.maxCode; n++) {
      const curlen = nextlen;
      nextlen = dl[n + 1]!;
      if (++count < maxCount && curlen === nextlen) continue;
      else if (count < minCount) bl[curlen]! += count;
      else if (curlen !== 0) {
        if (curlen !== prevlen) bl[curlen]!++;
        bl[REP_3_6]!++;
      } else if (count <= 10) bl[REPZ_3_10]!++;
      else bl[REPZ_11_138]!++;
      count = 0;
      prevlen = curlen;
      if (nextlen === 0) {
        maxCount = 138;
        minCount = 3;
      } else if (curlen === nextlen) {
        maxCount = 6;
        minCount = 3;
      } else {
        maxCount = 7;
        minCount = 4;
      }
    }
  }

  private buildBlTree(): number {
    this.scanTree(this.ltree);
    this.scanTree(this.dtree);
    this.buildTree(this.bltree);
    let maxBlindex: number;
    for (maxBlindex = BL_CODES - 1; maxBlindex >= 3; maxBlindex--) if (this.bltree.dl[BL_ORDER[maxBlindex]!] !== 0) break;
    this.optLen += 3 * (maxBlindex + 1) + 5 + 5 + 4;
    return maxBlindex;
  }

  /** _tr_flush_block, counting bits: a stored, fixed-code or dynamic-code block, whichever is smallest. */
  private trFlushBlock(haveBuf: boolean, storedLen: number, last: boolean): void {
    this.buildTree(this.ltree);
    this.buildTree(this.dtree);
    this.buildBlTree();
    let optLenb = (this.optLen + 3 + 7) >> 3;
    const staticLenb = (this.staticLen + 3 + 7) >> 3;
    if (staticLenb <= optLenb) optLenb = staticLenb;
    if (storedLen + 4 <= optLenb && haveBuf) {
      this.bits += 3;
      this.bits = (this.bits + 7) & ~7;
      this.bits += 32 + storedLen * 8;
    } else if (staticLenb === optLenb) {
      this.bits += 3 + this.staticLen;
    } else {
      this.bits += 3 + this.optLen;
    }
    this.initBlock();
    if (last) this.bits = (this.bits + 7) & ~7;
  }
}

/** The length of zlib's raw deflate of `data` at `level` (see {@link ZlibSizer}). */
export function zlibDeflatedSize(data: Uint8Array, level: number): number {
  const z = new ZlibSizer(level);
  z.update(data);
  return z.finish();
}
