/**
 * The order in which GLib 2.74's GHashTable hands back its entries, for output that ostree prints
 * by iterating one (find-remotes lists a result's refs that way). Only insertion is modelled:
 * the callers never remove. The table starts with 8 buckets, finds a key's first bucket as
 * `(hash * 11) mod prime`, probes quadratically within the power-of-two size, grows in place
 * when 15/16 full, and iterates buckets in index order.
 */

/** GLib's g_str_hash (djb2 over signed chars), on the UTF-8 bytes. */
export function gStrHash(s: string): number {
  let h = 5381;
  for (const b of Buffer.from(s, 'utf8')) h = (Math.imul(h, 33) + (b >= 0x80 ? b - 0x100 : b)) >>> 0;
  return h;
}

/** ostree_collection_ref_hash. */
export function collectionRefHash(collectionId: string | null, ref: string): number {
  return collectionId === null ? gStrHash(ref) : (gStrHash(collectionId) ^ gStrHash(ref)) >>> 0;
}

/** GLib's prime_mod table: the first prime below each power of two. */
const PRIME_MOD = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287,
  1048573, 2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647];
const MIN_SHIFT = 3;

/** A GHashTable's layout, holding keys and values; `equal` is the table's key equality. */
export class GHashTable<K, V> {
  private size = 1 << MIN_SHIFT;
  private mod = PRIME_MOD[MIN_SHIFT]!;
  private mask = (1 << MIN_SHIFT) - 1;
  private nnodes = 0;
  private hashes: number[] = new Array<number>(this.size).fill(0);
  private keys: Array<K | undefined> = new Array<K | undefined>(this.size);
  private values: Array<V | undefined> = new Array<V | undefined>(this.size);

  constructor(private readonly hash: (k: K) => number, private readonly equal: (a: K, b: K) => boolean) {}

  private index(h: number): number {
    return (Math.imul(h, 11) >>> 0) % this.mod;
  }

  private lookup(key: K): { at: number; hash: number } {
    let hash = this.hash(key) >>> 0;
    if (hash <= 1) hash = 2;
    let at = this.index(hash);
    for (let step = 1; this.hashes[at] !== 0; step++) {
      if (this.hashes[at] === hash && this.equal(this.keys[at]!, key)) break;
      at = (at + step) & this.mask;
    }
    return { at, hash };
  }

  /** g_hash_table_insert: a key already present keeps its place and its key object; the value is replaced. */
  insert(key: K, value: V): void {
    const { at, hash } = this.lookup(key);
    if (this.hashes[at] !== 0) {
      this.values[at] = value;
      return;
    }
    this.hashes[at] = hash;
    this.keys[at] = key;
    this.values[at] = value;
    this.nnodes++;
    // No tombstones here, so occupied buckets are the nodes.
    if (this.size <= this.nnodes + Math.floor(this.nnodes / 16)) this.grow();
  }

  get(key: K): V | undefined {
    const { at } = this.lookup(key);
    return this.hashes[at] !== 0 ? this.values[at] : undefined;
  }

  has(key: K): boolean {
    return this.hashes[this.lookup(key).at] !== 0;
  }

  get count(): number {
    return this.nnodes;
  }

  /** The entries in GLib's iteration order. */
  *entries(): IterableIterator<[K, V]> {
    for (let i = 0; i < this.size; i++) if (this.hashes[i] !== 0) yield [this.keys[i]!, this.values[i]!];
  }

  /** g_hash_table_resize growing in place (resize_map): entries move by eviction, old buckets in index order. */
  private grow(): void {
    const oldSize = this.size;
    let shift = 0;
    for (let n = Math.trunc(this.nnodes * 1.333); n; n >>= 1) shift++;
    shift = Math.max(shift, MIN_SHIFT);
    this.size = 1 << shift;
    this.mod = PRIME_MOD[shift]!;
    this.mask = this.size - 1;
    if (this.size <= oldSize) throw new Error('GHashTable.grow: the table did not grow');
    for (let i = oldSize; i < this.size; i++) this.hashes[i] = 0;
    this.keys.length = this.size;
    this.values.length = this.size;
    const placed = new Array<boolean>(this.size).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let hash = this.hashes[i]!;
      if (hash <= 1) {
        this.hashes[i] = 0;
        continue;
      }
      if (placed[i]) continue;
      this.hashes[i] = 0;
      let key = this.keys[i];
      let value = this.values[i];
      for (;;) {
        let at = this.index(hash);
        for (let step = 1; placed[at]; step++) at = (at + step) & this.mask;
        placed[at] = true;
        const replaced = this.hashes[at]!;
        const [rk, rv] = [this.keys[at], this.values[at]];
        this.hashes[at] = hash;
        this.keys[at] = key;
        this.values[at] = value;
        if (replaced <= 1) break;
        hash = replaced;
        key = rk;
        value = rv;
      }
    }
  }
}
