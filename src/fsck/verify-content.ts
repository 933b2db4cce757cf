import { GroveError } from '../errors.js';
import type { Sha256Factory } from '../format/hash.js';
import { contentChecksum, contentChecksumOf, openContent, readContentSync } from '../store/read-content.js';
import type { VerifyResult, VerifyTask } from './task.js';

/**
 * `message` as it names the object: decoders deep in the format code may not know which object
 * they were reading, and an fsck report that does not say which object is useless.
 */
export function namingObject(type: string, checksum: string, message: string): string {
  return message.includes(checksum) ? message : `${type} object ${checksum}: ${message}`;
}

/**
 * Worker side of fsck: re-read each content object, recompute its checksum from header and
 * bytes, and report every object that is missing, unreadable or does not match. Collects
 * failures rather than stopping at the first, so one run names them all.
 */
export async function verifyContentBatch(task: VerifyTask, sha: Sha256Factory): Promise<VerifyResult> {
  const res: VerifyResult = { bad: [], bytes: 0 };
  for (const checksum of task.checksums) {
    try {
      // Small objects (nearly all) are read whole in synchronous calls, into one reused buffer
      // (hashed before the next is read); large ones streamed.
      const small = readContentSync(task.ctx, checksum, { compress: task.ctx.compress, scratch: true });
      let actual: string;
      if (small !== null) {
        actual = contentChecksum(sha, small.header, small.data);
        res.bytes += small.data.length;
      } else {
        const obj = await openContent(task.ctx, checksum, { compress: task.ctx.compress });
        const r = await contentChecksumOf(sha, obj.header, obj.chunks());
        actual = r.checksum;
        res.bytes += r.bytes;
      }
      // ostree's words (fsck_content_object), which scripts and logs match on.
      if (actual !== checksum) res.bad.push({ checksum, message: `fsck content object ${checksum}: Corrupted file object; checksum expected='${checksum}' actual='${actual}'` });
    } catch (e) {
      if (e instanceof GroveError && e.code === 'GROVE_MISSING_OBJECT') {
        res.bad.push({ checksum, missing: true, message: `Object missing: ${checksum}.file` });
        continue;
      }
      const message = e instanceof GroveError ? e.message : (e as Error).message ?? String(e);
      res.bad.push({ checksum, message: `fsck content object ${checksum}: ${message}` });
    }
  }
  return res;
}
