/**
 * The order in which a GLib `GVariantDict` lists its entries when it is turned into an `a{sv}`.
 *
 * ostree builds several `a{sv}` values (the summary's metadata, each ref's metadata in the
 * summary) through a GVariantDict, which is a GHashTable keyed by `g_str_hash`; the serialized
 * order is the table's slot order. To write the same bytes as ostree, grove replays that table:
 * GLib 2.74's open addressing (start at `hash * 11 mod prime`, probe by growing steps, power-of-
 * two sizes from 8, grow when occupancy reaches 15/16) and its in-place rehash on growth. The
 * order was checked against files the real ostree wrote (test/format/summary.test.ts).
 */

/** For a table of 2^shift slots, the prime below 2^shift that picks the first slot. */
const PRIME_MOD = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];
const MIN_SHIFT = 3;

/** GLib's `g_str_hash` (djb2 over *signed* chars) of a key's UTF-8 bytes, as an unsigned 32-bit value. */
export function gStrHash(key: string): number {
  let h = 5381;
  for (const b of Buffer.from(key, 'utf8')) {
    const signed = b >= 0x80 ? b - 0x100 : b;
    h = (Math.imul(h, 33) + signed) >>> 0;
  }
  return h;
}

class GHashTableModel {
  private shift = MIN_SHIFT;
  private hashes: number[] = new Array<number>(1 << MIN_SHIFT).fill(0);
  private keys: Array<string | undefined> = new Array<string | undefined>(1 << MIN_SHIFT);
  private nnodes = 0;
  private noccupied = 0;

  private get size(): number { return 1 << this.shift; }
  private get mask(): number { return this.size - 1; }
  private index(hash: number): number { return (Math.imul(hash, 11) >>> 0) % PRIME_MOD[this.shift]!; }

  insert(key: string): void {
    let hash = gStrHash(key);
    if (hash <= 1) hash = 2; // 0 and 1 mark empty slots and tombstones
    let i = this.index(hash);
    let step = 0;
    while (this.hashes[i] !== 0) {
      if (this.hashes[i] === hash && this.keys[i] === key) return; // a replaced value keeps its slot
      step++;
      i = (i + step) & this.mask;
    }
    this.hashes[i] = hash;
    this.keys[i] = key;
    this.nnodes++;
    this.noccupied++;
    const size = this.size;
    if ((size > this.nnodes * 4 && size > 1 << MIN_SHIFT) || size <= this.noccupied + Math.floor(this.noccupied / 16)) this.resize();
  }

  /**
   * GLib grows to the power of two above nnodes * 1.333 and rehashes in place: walking the old
   * slots in order, it moves each entry to its new home, and an entry it displaces moves next.
   */
  private resize(): void {
    const oldSize = this.size;
    let n = Math.trunc(this.nnodes * 1.333);
    let shift = 0;
    while (n) { n >>= 1; shift++; }
    this.shift = Math.max(shift, MIN_SHIFT);
    const size = this.size;
    if (size > oldSize) {
      this.hashes.length = size;
      this.hashes.fill(0, oldSize);
      this.keys.length = size;
    }
    const moved = new Array<boolean>(Math.max(size, oldSize)).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let hash = this.hashes[i]!;
      if (hash <= 1) { this.hashes[i] = 0; continue; }
      if (moved[i]) continue;
      this.hashes[i] = 0;
      let key = this.keys[i];
      this.keys[i] = undefined;
      for (;;) {
        let j = this.index(hash);
        let step = 0;
        while (moved[j]) { step++; j = (j + step) & this.mask; }
        moved[j] = true;
        const displacedHash = this.hashes[j]!;
        const displacedKey = this.keys[j];
        this.hashes[j] = hash;
        this.keys[j] = key;
        if (displacedHash <= 1) break;
        hash = displacedHash;
        key = displacedKey;
      }
    }
    this.noccupied = this.nnodes;
  }

  order(): string[] {
    return this.keys.filter((k, i): k is string => k !== undefined && this.hashes[i]! > 1);
  }
}

/**
 * The entries of a dict built by inserting `entries` in order (a later value for a key replaces
 * the earlier one in place), in the order GVariantDict serializes them.
 */
export function glibDictOrder<V>(entries: Iterable<readonly [string, V]>): Array<[string, V]> {
  const table = new GHashTableModel();
  const values = new Map<string, V>();
  for (const [k, v] of entries) {
    table.insert(k);
    values.set(k, v);
  }
  return table.order().map((k) => [k, values.get(k)!]);
}
