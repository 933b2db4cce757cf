import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { GroveError, isErrno } from '../errors.js';
import { isReg } from '../format/mode.js';
import { archiveHeader, type ObjectType } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import { ATOMIC_TEMP_PREFIX, tempName } from '../repo/fsutil.js';
import { openObjectFile } from '../store/object-file.js';
import { objectPath } from '../store/paths.js';
import { openContent, readContentSync } from '../store/read-content.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';

/** An object as it goes on the wire: its size, and its bytes whole or from a file. */
export type WireObject =
  | { size: number; bytes: Buffer; file?: undefined; release(): void }
  | { size: number; bytes?: undefined; file: string; release(): void };

const deflateRaw = promisify(zlib.deflateRaw);
/** Objects up to this size on disk are read whole; larger ones are sent from a file. */
export const WHOLE = 4 << 20;
/** ostree's default `core.zlib-level`: what an archive server would have compressed with. */
const ZLIB_LEVEL = 6;

/**
 * Object `checksum` of type `type` of `repo` in the form a push sends it (see protocol.ts):
 * metadata as stored, content in archive (`.filez`) form — an archive repository's file as it
 * is, a bare repository's object compressed here (in libuv's threads, several at once), large
 * ones through a temp file so memory stays bounded.
 */
export async function openWireObject(repo: Repo, checksum: string, type: ObjectType): Promise<WireObject> {
  const none = (): void => undefined;
  const where = `${type} object ${checksum}`;
  const p = objectPath(repo.objectsDir, checksum, type, repo.mode);
  try {
    if (type !== 'file' || repo.mode === 'archive') {
      const { fd, size } = openObjectFile(p, where);
      try {
        if (type !== 'file' && size > MAX_METADATA_SIZE) throw new GroveError('GROVE_TOO_LARGE', `${where} is ${size} bytes, more than the ${MAX_METADATA_SIZE} allowed`);
        if (size > WHOLE) return { size, file: p, release: none };
        const bytes = Buffer.allocUnsafe(size);
        let got = 0;
        while (got < size) {
          const n = fs.readSync(fd, bytes, got, size - got, got);
          if (n === 0) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${p} shrank while being read`);
          got += n;
        }
        return { size, bytes, release: none };
      } finally {
        fs.closeSync(fd);
      }
    }
    const small = readContentSync(repo, checksum, { xattrs: true });
    if (small !== null) {
      const head = archiveHeader(small.header, BigInt(small.data.length));
      const bytes = isReg(small.header.mode) ? Buffer.concat([head, await deflateRaw(small.data, { level: ZLIB_LEVEL })]) : Buffer.from(head);
      return { size: bytes.length, bytes, release: none };
    }
    const obj = await openContent(repo, checksum, { xattrs: true });
    const file = path.join(repo.tmpDir, tempName(ATOMIC_TEMP_PREFIX));
    const release = (): void => fs.rmSync(file, { force: true });
    try {
      const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
      out.write(archiveHeader(obj.header, BigInt(obj.size)));
      await pipeline(obj.chunks(), zlib.createDeflateRaw({ level: ZLIB_LEVEL }), out);
      return { size: fs.statSync(file).size, file, release };
    } catch (e) {
      release();
      throw e;
    }
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_MISSING_OBJECT', `${where} is missing from ${repo.path}`, { path: p });
    throw e;
  }
}
