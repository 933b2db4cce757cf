import { GroveError } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { isLink, isReg } from '../format/mode.js';
import type { FileHeader, ObjectType } from '../format/objects.js';
import { bspatch } from './bspatch.js';
import type { PartPayload } from './part.js';
import type { DeltaObject } from './superblock.js';
import { readVarint } from './varint.js';

/**
 * Runs a part's operations (ostree 2022.7, ostree-repo-static-delta-processing.c), yielding the
 * part's objects in the order the superblock lists them. Each operation names byte ranges of
 * the part's data (or of an object already in the repository, the "read source"); every range is
 * checked against its buffer before it is used, and every object is handed to `sink`, whose
 * writers check it against its checksum like any fetched object. Where ostree asserts (and
 * aborts on a hostile delta), grove names the part and the operation and stops.
 */
export interface DeltaSink {
  metadata(type: ObjectType, checksum: string, bytes: Uint8Array): Promise<void>;
  content(checksum: string, header: FileHeader, data: Uint8Array): Promise<void>;
  /** Whether the repository already has content object `checksum` (its writing is skipped). */
  hasContent(checksum: string): boolean;
  /** The bytes of content object `checksum` in the repository (a bsdiff or write source). */
  readSource(checksum: string): Promise<Uint8Array>;
}

/** How many of each operation a part holds, in the order ostree's `static-delta show` prints them. */
export interface OpCounts { openspliceclose: number; open: number; write: number; setread: number; unsetread: number; close: number; bspatch: number }

const OP = { S: 0x53, o: 0x6f, w: 0x77, r: 0x72, R: 0x52, c: 0x63, B: 0x42 } as const;

export function emptyOpCounts(): OpCounts {
  return { openspliceclose: 0, open: 0, write: 0, setread: 0, unsetread: 0, close: 0, bspatch: 0 };
}

interface Open { checksum: string; header: FileHeader; size: number; buf: Uint8Array; filled: number; skip: boolean }

/**
 * Executes `part`, or with `sink` null only walks its operations and counts them (what `show`
 * prints). `maxObjectSize` bounds what one object may declare, so no allocation follows a
 * hostile size.
 */
export async function executePart(part: PartPayload, objects: DeltaObject[], sink: DeltaSink | null, maxObjectSize: number, where: string): Promise<OpCounts> {
  const counts = emptyOpCounts();
  const { ops, data } = part;
  const pos = { at: 0 };
  let index = 0;
  let open: Open | null = null;
  let source: { checksum: string; bytes: Uint8Array | null } | null = null;
  let opName = '';
  const fail = (what: string) => new GroveError('GROVE_CORRUPT_OBJECT', `${where}: opcode ${opName}: ${what}`);
  const varint = () => {
    const v = readVarint(ops, pos);
    if (v === null) throw fail('Unexpected EOF reading varint');
    return v;
  };
  const range = (offset: number, length: number) => {
    if (offset + length > data.length) throw fail(`Invalid offset/length ${offset}/${length}`);
    return data.subarray(offset, offset + length);
  };
  const nextObject = () => {
    const o = objects[index];
    if (o === undefined) throw fail(`more objects than the ${objects.length} the superblock lists`);
    return o;
  };
  const headerFrom = (symlinkTarget: string): FileHeader => {
    const modeOffset = varint();
    const xattrOffset = varint();
    const m = part.modes[modeOffset];
    const x = part.xattrs[xattrOffset];
    if (m === undefined) throw fail(`mode index ${modeOffset} out of range`);
    if (x === undefined) throw fail(`xattr index ${xattrOffset} out of range`);
    return { uid: m[0], gid: m[1], mode: m[2], rdev: 0, symlinkTarget, xattrs: x };
  };
  const sizeOf = (n: number) => {
    if (n > maxObjectSize) throw fail(`object size ${n} is more than the part allows (${maxObjectSize})`);
    return n;
  };
  const sourceBytes = async () => {
    if (source === null) throw fail('no read source set');
    source.bytes ??= await sink!.readSource(source.checksum);
    return source.bytes;
  };
  const close = async () => {
    if (open !== null) {
      if (!open.skip) {
        if (open.filled !== open.size) throw fail(`object ${open.checksum} got ${open.filled} of its ${open.size} bytes`);
        await sink!.content(open.checksum, open.header, open.buf);
      }
      open = null;
    }
    source = null;
    index++;
  };
  const append = (bytes: Uint8Array) => {
    if (open === null) throw fail('no object open');
    if (open.filled + bytes.length > open.size) throw fail(`writes past the ${open.size} bytes of object ${open.checksum}`);
    if (!open.skip) open.buf.set(bytes, open.filled);
    open.filled += bytes.length;
  };

  while (pos.at < ops.length) {
    const code = ops[pos.at++]!;
    switch (code) {
      case OP.S: {
        opName = 'open-splice-and-close';
        counts.openspliceclose++;
        const obj = nextObject();
        if (obj.type !== 'file') {
          const length = varint();
          const bytes = range(varint(), length);
          if (sink) await sink.metadata(obj.type, obj.checksum, bytes.slice());
        } else {
          const partial = headerFrom('');
          const size = sizeOf(varint());
          const bytes = range(varint(), size);
          if (!isReg(partial.mode) && !isLink(partial.mode)) throw fail(`object ${obj.checksum} has mode ${partial.mode.toString(8)}, neither a file nor a symlink`);
          if (sink && !sink.hasContent(obj.checksum)) {
            const header = isLink(partial.mode) ? { ...partial, symlinkTarget: symlinkText(bytes, fail) } : partial;
            await sink.content(obj.checksum, header, isLink(partial.mode) ? new Uint8Array(0) : bytes);
          }
        }
        source = null;
        index++;
        break;
      }
      case OP.o: {
        opName = 'open';
        counts.open++;
        if (open !== null) throw fail('an object is already open');
        const obj = nextObject();
        if (obj.type !== 'file') throw fail(`object ${obj.checksum} is a ${obj.type}, not a file`);
        const header = headerFrom('');
        if (!isReg(header.mode)) throw fail(`object ${obj.checksum} has mode ${header.mode.toString(8)}, not a regular file`);
        const size = sizeOf(varint());
        const skip = sink === null || sink.hasContent(obj.checksum);
        open = { checksum: obj.checksum, header, size, buf: skip ? new Uint8Array(0) : new Uint8Array(size), filled: 0, skip };
        break;
      }
      case OP.w: {
        opName = 'write';
        counts.write++;
        const length = varint();
        const offset = varint();
        if (sink === null) break;
        if (open === null) throw fail('no object open');
        if (open.skip) {
          open.filled += length;
          break;
        }
        if (source !== null) {
          const src = await sourceBytes();
          if (offset + length > src.length) throw fail(`Unexpected EOF reading object ${source.checksum}`);
          append(src.subarray(offset, offset + length));
        } else {
          append(range(offset, length));
        }
        break;
      }
      case OP.r: {
        opName = 'set-read-source';
        counts.setread++;
        const offset = varint();
        source = { checksum: toHex(range(offset, 32)), bytes: null };
        break;
      }
      case OP.R:
        opName = 'unset-read-source';
        counts.unsetread++;
        source = null;
        break;
      case OP.c:
        opName = 'close';
        counts.close++;
        await close();
        break;
      case OP.B: {
        opName = 'bspatch';
        counts.bspatch++;
        const offset = varint();
        const length = varint();
        if (sink === null) break;
        if (open === null) throw fail('no object open');
        if (open.skip) {
          open.filled = open.size;
          break;
        }
        const patch = range(offset, length);
        append(bspatch(await sourceBytes(), patch, open.size - open.filled, `${where}: object ${open.checksum}`));
        break;
      }
      default:
        throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: Unknown opcode ${code} at offset ${pos.at - 1}`);
    }
  }
  if (open !== null) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: object ${(open as Open).checksum} is never closed`);
  if (sink !== null && index !== objects.length) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: yields ${index} of the ${objects.length} objects the superblock lists`);
  }
  return counts;
}

/** A symlink target as ostree takes it from a delta: the bytes up to the first NUL, as UTF-8. */
function symlinkText(bytes: Uint8Array, fail: (what: string) => GroveError): string {
  const nul = bytes.indexOf(0);
  const text = Buffer.from(nul < 0 ? bytes : bytes.subarray(0, nul)).toString('utf8');
  if (text.length === 0) throw fail('empty symlink target');
  return text;
}
