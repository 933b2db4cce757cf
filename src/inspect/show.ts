import fs from 'node:fs/promises';
import { GroveError, isErrno } from '../errors.js';
import { CHECKSUM_RE, toHex } from '../format/checksum.js';
import { Variant, decode, isValidType, type GVariantValue } from '../format/gvariant.js';
import { byteswap } from '../format/gvariant/byteswap.js';
import { printVariant } from '../format/gvariant/text.js';
import { isLink, isReg } from '../format/mode.js';
import { COMMIT_TYPE, DIRMETA_TYPE, DIRTREE_TYPE, decodeCommit, type ObjectType } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import { readDetached } from '../sign/signatures.js';
import { openContent } from '../store/read-content.js';
import { describeCommitBody } from './describe.js';

/**
 * `ostree show` and `ostree log` text for objects, byte for byte as ostree 2022.7 prints it.
 * GLib prints GVariants big-endian-swapped unless told not to (`-B`): ostree stores integers
 * big-endian, so the swap shows their real values.
 */

export interface DumpFlags {
  /** `--raw`: the whole object as GVariant text instead of the commit summary. */
  raw?: boolean;
  /** `-B`: the object as stored (no byte swap), then the usual summary. */
  noByteswap?: boolean;
}

const TYPE_OF: Record<'commit' | 'dirtree' | 'dirmeta', string> = { commit: COMMIT_TYPE, dirtree: DIRTREE_TYPE, dirmeta: DIRMETA_TYPE };

/** g_variant_print of `value` after g_variant_byteswap, as ostree's ot_dump_variant. */
export function dumpVariant(type: string, value: GVariantValue): string {
  return `${printVariant(new Variant(type, byteswap(type, value)), { typeAnnotate: true })}\n`;
}

/** ot_dump_object: `TYPE CHECKSUM`, then the variant and/or the commit summary as `flags` ask. */
export function dumpObject(type: 'commit' | 'dirtree' | 'dirmeta', checksum: string, bytes: Uint8Array, flags: DumpFlags = {}): string {
  const gtype = TYPE_OF[type];
  let out = `${type} ${checksum}\n`;
  const value = decode(gtype, bytes);
  if (flags.noByteswap) out += `${printVariant(new Variant(gtype, value), { typeAnnotate: true })}\n`;
  else if (flags.raw) return out + dumpVariant(gtype, value);
  if (type === 'commit') out += describeCommitBody(decodeCommit(bytes, `commit ${checksum}`));
  return out;
}

/**
 * `ostree show OBJECT`: a rev names a commit; a checksum is looked up as a commit, a dirmeta, a
 * dirtree, then a content object, and the first found is printed.
 */
export async function showObject(repo: Repo, rev: string, flags: DumpFlags = {}): Promise<string> {
  if (!CHECKSUM_RE.test(rev)) {
    const csum = (await repo.resolveRev(rev))!;
    return dumpObject('commit', csum, await repo.readMetadata(csum, 'commit'), flags);
  }
  for (const type of ['commit', 'dirmeta', 'dirtree'] as const) {
    if (await repo.hasObject(rev, type)) return dumpObject(type, rev, await repo.readMetadata(rev, type), flags);
  }
  let obj;
  try {
    obj = await openContent(repo, rev);
  } catch (e) {
    if (e instanceof GroveError && e.code === 'GROVE_MISSING_OBJECT') {
      const msg = `Couldn't find file object '${rev}'`;
      throw new GroveError('GROVE_MISSING_OBJECT', repo.mode === 'archive' ? msg : `Opening content object ${rev}: ${msg}`, { cause: e });
    }
    throw e;
  }
  const h = obj.header;
  let out = `Object: ${rev}\nType: file\nFile Type: `;
  if (isReg(h.mode)) out += `regular\nSize: ${obj.size}\n`;
  else if (isLink(h.mode)) out += `symlink\nTarget: ${h.symlinkTarget}\n`;
  out += `Mode: 0${h.mode.toString(8).padStart(4, '0')}\nUid: ${h.uid}\nGid: ${h.gid}\n`;
  out += `Extended Attributes: { ${formatXattrs(h.xattrs)} }\n`;
  return out;
}

/** xattrs as `a(ayay)` GVariant text, as `ostree show` and `ostree ls -X` print them. */
export function formatXattrs(xattrs: Array<[string, Uint8Array]>): string {
  const utf8 = new TextEncoder();
  const value = xattrs.map(([name, v]) => {
    const n = utf8.encode(name);
    const withNul = new Uint8Array(n.length + 1);
    withNul.set(n);
    return [withNul, v];
  });
  return printVariant(new Variant('a(ayay)', value), { typeAnnotate: true });
}

/** `--print-related`: `NAME CHECKSUM` per related object of the commit. */
export async function relatedText(repo: Repo, checksum: string): Promise<string> {
  const c = await repo.loadCommit(checksum);
  return c.related.map(([name, csum]) => `${name} ${csum}\n`).join('');
}

/**
 * `--print-metadata-key` / `--print-detached-metadata-key`: the value of KEY in the commit's
 * metadata or its detached metadata, byte-swapped unless `noByteswap`.
 */
export async function metadataKeyText(repo: Repo, checksum: string, key: string, opts: { detached?: boolean; noByteswap?: boolean } = {}): Promise<string> {
  let dict: Array<[string, Variant]>;
  if (opts.detached) {
    const d = await readDetached(repo, checksum);
    if (d === null) throw new GroveError('GROVE_NOT_FOUND', `No detached metadata for commit ${checksum}`);
    dict = d;
  } else {
    dict = (await repo.loadCommit(checksum)).metadata;
  }
  const v = dict.find(([k]) => k === key)?.[1];
  if (v === undefined) throw new GroveError('GROVE_NOT_FOUND', `No such metadata key '${key}'`);
  if (opts.noByteswap) return `${printVariant(v, { typeAnnotate: true })}\n`;
  return dumpVariant(v.type, v.value);
}

/** `--print-variant-type=TYPE FILE`: FILE's bytes read as a GVariant of TYPE. */
export async function variantFileText(type: string, file: string): Promise<string> {
  if (!isValidType(type)) throw new GroveError('GROVE_BAD_OPTION', `--print-variant-type: '${type}' is not a GVariant type`);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `openat(${file}): No such file or directory`, { cause: e });
    throw e;
  }
  return dumpVariant(type, decode(type, bytes));
}

const OBJTYPES: Record<number, ObjectType | null> = { 1: 'file', 2: 'dirtree', 3: 'dirmeta', 4: 'commit', 5: null, 6: 'commitmeta', 7: null };

/**
 * `--print-sizes`: totals over the commit's `ostree.sizes` entries (32-byte checksum, varint
 * compressed size, varint unpacked size, optional object type byte), and how much of that the
 * repository lacks.
 */
export async function sizesText(repo: Repo, checksum: string): Promise<string> {
  let commit;
  try {
    commit = await repo.loadCommit(checksum);
  } catch (e) {
    if (e instanceof GroveError) throw new GroveError(e.code, `Failed to read commit: ${e.message}`, { cause: e });
    throw e;
  }
  const sizes = commit.metadata.find(([k, v]) => k === 'ostree.sizes' && v.type === 'aay')?.[1];
  if (sizes === undefined) throw new GroveError('GROVE_NOT_FOUND', 'No metadata key ostree.sizes in commit');
  const total = { archived: 0n, unpacked: 0n, objects: 0 };
  const needed = { archived: 0n, unpacked: 0n, objects: 0 };
  for (const entry of sizes.value as Uint8Array[]) {
    if (entry.length < 34) throw new GroveError('GROVE_CORRUPT_OBJECT', `commit ${checksum}: ostree.sizes entry of ${entry.length} bytes`);
    const csum = toHex(entry.subarray(0, 32));
    let pos = 32;
    const varint = (): bigint => {
      let v = 0n;
      for (let shift = 0n; ; shift += 7n) {
        if (pos >= entry.length || shift > 63n) throw new GroveError('GROVE_CORRUPT_OBJECT', 'Unexpected EOF reading ostree.sizes varint');
        const b = entry[pos++]!;
        v |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0) return v;
      }
    };
    const archived = varint();
    const unpacked = varint();
    let type: ObjectType | null = 'file';
    if (pos < entry.length) {
      const t = entry[pos]!;
      if (!(t in OBJTYPES)) throw new GroveError('GROVE_CORRUPT_OBJECT', `Unexpected ostree.sizes object type ${t}`);
      type = OBJTYPES[t] ?? null;
    }
    total.archived += archived;
    total.unpacked += unpacked;
    total.objects++;
    if (type === null || !(await repo.hasObject(csum, type))) {
      needed.archived += archived;
      needed.unpacked += unpacked;
      needed.objects++;
    }
  }
  return `Compressed size (needed/total): ${formatSize(needed.archived)}/${formatSize(total.archived)}\n`
    + `Unpacked size (needed/total): ${formatSize(needed.unpacked)}/${formatSize(total.unpacked)}\n`
    + `Number of objects (needed/total): ${needed.objects}/${total.objects}\n`;
}

/**
 * GLib's g_format_size: `N bytes` (`1 byte`) below 1000, else one decimal, U+00A0 and an SI unit,
 * rounded as printf rounds the double (half to even on exact ties).
 */
export function formatSize(n: bigint): string {
  if (n < 1000n) return n === 1n ? '1 byte' : `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let factor = 1000n;
  let i = 0;
  while (i < units.length - 1 && n >= factor * 1000n) {
    factor *= 1000n;
    i++;
  }
  // GLib puts a no-break space between the number and the unit (not after `bytes`).
  return `${toFixed1(Number(n) / Number(factor))}\u00a0${units[i]}`;
}

/** printf("%.1f", x) for x >= 0: toFixed(60) is exact for these doubles, so ties are visible. */
function toFixed1(x: number): string {
  const exact = x.toFixed(60);
  const dot = exact.indexOf('.');
  let tenths = BigInt(exact.slice(0, dot) + exact[dot + 1]);
  const rest = exact.slice(dot + 2);
  if (rest[0]! > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || (tenths & 1n) === 1n))) tenths++;
  const s = tenths.toString().padStart(2, '0');
  return `${s.slice(0, -1)}.${s.slice(-1)}`;
}
