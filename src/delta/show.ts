import path from 'node:path';
import { formatSize } from '../format/size.js';
import { executePart } from './execute.js';
import { deltaRelDir } from './names.js';
import { openPart, payloadLimit } from './part.js';
import { decodeSuperblock, hasEngineSignatures } from './superblock.js';
import { readOrFail, readSuperblockFile } from './superblock-file.js';

/**
 * `static-delta show DELTA`: what ostree 2022.7's `_ostree_repo_static_delta_dump` prints, line
 * for line, each line handed to `print` as soon as it is known (ostree prints what it has before
 * a failure). DELTA is a delta name, or (with a `/` in it) the path of a superblock file; the
 * parts are read from the repository's copy of the delta either way, as ostree does. Each part is
 * opened (without its checksum checked, as ostree) to count its modes, xattrs, data and operations.
 */
export async function showDelta(repoPath: string, id: string, print: (line: string) => void): Promise<void> {
  const sb = decodeSuperblock(readSuperblockFile(repoPath, id), `static delta ${id}`);
  const say = (...l: string[]) => { for (const x of l) print(`${x}\n`); };
  say(`Delta: ${id}`, `Signed: ${hasEngineSignatures(sb.signatures) ? 'yes' : 'no'}`);
  say(sb.from === null ? 'From <scratch>' : `From: ${sb.from}`, `To: ${sb.to}`);
  const e = sb.endianness === 'invalid' ? 'invalid' : `${sb.endianness}${sb.endiannessGuessed ? ' (heuristic)' : ''}`;
  say(`Endianness: ${e}`, `Timestamp: ${sb.timestamp}`, `Number of parents: ${sb.parents}`);
  say(`Number of fallback entries: ${sb.fallbacks.length}`);
  let fSize = 0n;
  let fUsize = 0n;
  for (const f of sb.fallbacks) {
    say(`  ${f.checksum}`);
    fSize += f.size;
    fUsize += f.usize;
  }
  say(`Total Fallback Size: ${fSize} (${size(fSize)})`, `Total Fallback Uncompressed Size: ${fUsize} (${size(fUsize)})`);
  say(`Number of parts: ${sb.parts.length}`);
  let pSize = 0n;
  let pUsize = 0n;
  for (const [i, entry] of sb.parts.entries()) {
    pSize += entry.size;
    pUsize += entry.usize;
    say(`PartMeta${i}: nobjects=${entry.objects.length} size=${entry.size} usize=${entry.usize}`);
    // ostree reads the part file even when the superblock holds the part inline.
    const partRel = `${deltaRelDir(sb)}/${i}`;
    const bytes = readOrFail(path.join(repoPath, partRel), `openat(${partRel})`);
    const limit = payloadLimit(entry.usize, entry.objects.length);
    const part = await openPart(bytes, null, limit, `static delta part ${i} of ${id}`);
    say(`PartPayload${i}: nmodes=${part.modes.length} nxattrs=${part.xattrs.length} blobsize=${part.data.length} opsize=${part.ops.length}`);
    const n = await executePart(part, entry.objects, null, limit, `static delta part ${i} of ${id}`);
    say(`PartPayloadOps${i}: openspliceclose=${n.openspliceclose} open=${n.open} write=${n.write} setread=${n.setread} unsetread=${n.unsetread} close=${n.close} bspatch=${n.bspatch}`);
  }
  say(`Total Part Size: ${pSize} (${size(pSize)})`, `Total Part Uncompressed Size: ${pUsize} (${size(pUsize)})`);
  say(`Total Size: ${pSize + fSize} (${size(pSize + fSize)})`, `Total Uncompressed Size: ${pUsize + fUsize} (${size(pUsize + fUsize)})`);
}

const size = (n: bigint) => formatSize(Number(n));

