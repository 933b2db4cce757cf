import { GroveError } from '../errors.js';
import { isReg } from '../format/mode.js';
import { openContent, readContentSync } from '../store/read-content.js';
import type { StoreRef } from '../store/paths.js';

/**
 * The bytes of regular-file object `checksum` already in the store: the old file a bsdiff patch
 * or a `write` from a read source applies to, or a file a delta being generated carries. Read whole (bspatch needs random access), through
 * the store's readers, so a source that is not a regular file or is shorter than its header says
 * is refused rather than followed.
 */
export async function readSourceContent(store: StoreRef, checksum: string): Promise<Uint8Array> {
  const small = readContentSync(store, checksum, { xattrs: false });
  if (small !== null) {
    if (!isReg(small.header.mode)) throw notRegular(checksum);
    return small.data;
  }
  const obj = await openContent(store, checksum, { xattrs: false });
  if (!isReg(obj.header.mode)) throw notRegular(checksum);
  const out = new Uint8Array(obj.size);
  let at = 0;
  for await (const c of obj.chunks()) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function notRegular(checksum: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `delta source file object ${checksum} is not a regular file`);
}
