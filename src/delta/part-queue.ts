import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toHex } from '../format/checksum.js';
import { encode } from '../format/gvariant.js';
import { sha256 } from '../format/hash.js';
import { bswap32, type FileHeader } from '../format/objects.js';
import { tempName } from '../repo/fsutil.js';
import { PART_PAYLOAD_TYPE } from './part.js';
import { compressPartFile } from './xz.js';
import type { DeltaObject } from './superblock.js';
import { writeVarint } from './varint.js';

/**
 * The parts of a delta being generated, filled one at a time with ostree's operations. Each full
 * part is xz-compressed at once, at most one per core at a time (xz at preset 8 takes some
 * 370 MB per compressor: all of minbase's parts at once peaked at 1.9 GB), and written to a temp
 * file in the delta's directory; what is held is the part being filled and those being
 * compressed. Inline parts stay in memory for the superblock.
 */
export interface BuiltPart { checksum: string; size: number; usize: bigint; objects: DeltaObject[]; file: Uint8Array | null; tmp: string | null }

const OP = { splice: 0x53, setRead: 0x72, unsetRead: 0x52, open: 0x6f, bspatch: 0x42, close: 0x63 } as const;

class PartBuilder {
  readonly objects: DeltaObject[] = [];
  payload: Uint8Array[] = [];
  payloadLength = 0;
  readonly ops: number[] = [];
  usize = 0n;
  readonly modes: Array<[number, number, number]> = [];
  private readonly modeIndex = new Map<string, number>();
  readonly xattrs: Array<Array<[Uint8Array, Uint8Array]>> = [];
  private readonly xattrIndex = new Map<string, number>();

  /** Appends bytes to the part's data; returns where they start. */
  splice(bytes: Uint8Array): number {
    const at = this.payloadLength;
    this.payload.push(bytes);
    this.payloadLength += bytes.length;
    return at;
  }

  /** The indexes of the header's (uid, gid, mode) and xattrs in the part's tables, added when new. */
  modeAndXattrs(h: FileHeader): { mode: number; xattrs: number } {
    const x = [...h.xattrs].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
      .map(([n, v]): [Uint8Array, Uint8Array] => [Buffer.concat([Buffer.from(n, 'utf8'), Buffer.from([0])]), v]);
    return {
      mode: indexOf(this.modeIndex, this.modes, `${h.uid}:${h.gid}:${h.mode}`, [bswap32(h.uid), bswap32(h.gid), bswap32(h.mode)]),
      xattrs: indexOf(this.xattrIndex, this.xattrs, x.map(([k, v]) => `${toHex(k)}=${toHex(v)}`).join(','), x),
    };
  }
}

function indexOf<T>(index: Map<string, number>, list: T[], key: string, value: T): number {
  let i = index.get(key);
  if (i === undefined) {
    i = list.length;
    list.push(value);
    index.set(key, i);
  }
  return i;
}

export class PartQueue {
  private current = new PartBuilder();
  private readonly done: Array<Promise<BuiltPart>> = [];
  private readonly running = new Set<Promise<unknown>>();
  private readonly limit = Math.max(1, os.availableParallelism());

  constructor(private readonly dir: string, private readonly inline: boolean, private readonly maxChunk: number) {}

  /** A metadata object, spliced whole: `S` (length, offset). */
  async metadata(o: DeltaObject, bytes: Uint8Array): Promise<void> {
    const p = await this.room(bytes.length);
    p.usize += BigInt(bytes.length);
    p.objects.push(o);
    const at = p.splice(bytes);
    p.ops.push(OP.splice);
    writeVarint(p.ops, bytes.length);
    writeVarint(p.ops, at);
  }

  /** A content object spliced whole (a symlink's bytes are its target): `S` (mode, xattrs, length, offset). */
  async content(checksum: string, header: FileHeader, bytes: Uint8Array): Promise<void> {
    const p = await this.room(bytes.length);
    p.usize += BigInt(bytes.length);
    p.objects.push({ type: 'file', checksum });
    const ix = p.modeAndXattrs(header);
    const at = p.splice(bytes);
    p.ops.push(OP.splice);
    writeVarint(p.ops, ix.mode);
    writeVarint(p.ops, ix.xattrs);
    writeVarint(p.ops, bytes.length);
    writeVarint(p.ops, at);
  }

  /**
   * A regular file rebuilt from `old` by a bsdiff patch, as ostree writes it: set-read-source
   * (the old checksum's bytes in the data), open, bspatch (offset, length), close, unset. A new
   * part starts only once this one is past the limit, as in ostree.
   */
  async patched(checksum: string, header: FileHeader, size: number, old: string, patch: Uint8Array): Promise<void> {
    if (this.current.objects.length > 0 && this.current.payloadLength > this.maxChunk) await this.next();
    const p = this.current;
    p.usize += BigInt(size);
    p.objects.push({ type: 'file', checksum });
    const ix = p.modeAndXattrs(header);
    p.ops.push(OP.setRead);
    writeVarint(p.ops, p.splice(Buffer.from(old, 'hex')));
    p.ops.push(OP.open);
    writeVarint(p.ops, ix.mode);
    writeVarint(p.ops, ix.xattrs);
    writeVarint(p.ops, size);
    p.ops.push(OP.bspatch);
    writeVarint(p.ops, p.splice(patch));
    writeVarint(p.ops, patch.length);
    p.ops.push(OP.close, OP.unsetRead);
  }

  /** The part to add `size` bytes to: a new one when they would take this one past the limit. */
  private async room(size: number): Promise<PartBuilder> {
    if (this.current.objects.length > 0 && this.current.payloadLength + size > this.maxChunk) await this.next();
    return this.current;
  }

  private async next(): Promise<void> {
    const p = this.current;
    this.current = new PartBuilder();
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const job = this.compress(p);
    this.done.push(job);
    const tracked: Promise<unknown> = job.catch(() => undefined).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** Every part, in order, once compressed and written; on a failure, none is left behind. */
  async finish(): Promise<BuiltPart[]> {
    if (this.current.objects.length > 0 || this.done.length === 0) await this.next();
    const results = await Promise.allSettled(this.done);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed === undefined) return results.map((r) => (r as PromiseFulfilledResult<BuiltPart>).value);
    await this.abort();
    throw failed.reason;
  }

  /** Waits for the compressions under way and removes every part file written. */
  async abort(): Promise<void> {
    for (const r of await Promise.allSettled(this.done)) if (r.status === 'fulfilled' && r.value.tmp !== null) fs.rmSync(r.value.tmp, { force: true });
  }

  private async compress(p: PartBuilder): Promise<BuiltPart> {
    const payload = encode(PART_PAYLOAD_TYPE, [p.modes, p.xattrs, Buffer.concat(p.payload, p.payloadLength), Uint8Array.from(p.ops)]);
    p.payload = [];
    const tmp = path.join(this.dir, tempName('.grove-delta-part-'));
    try {
      await compressPartFile(payload, tmp);
      const file = fs.readFileSync(tmp);
      const built = { checksum: toHex(sha256(file)), size: file.length, usize: p.usize, objects: p.objects };
      if (!this.inline) return { ...built, file: null, tmp };
      fs.rmSync(tmp, { force: true });
      return { ...built, file, tmp: null };
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  }
}
