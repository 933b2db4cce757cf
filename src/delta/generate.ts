import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { fromHex, toHex } from '../format/checksum.js';
import { decode, encode } from '../format/gvariant.js';
import { sha256 } from '../format/hash.js';
import { isLink, isReg } from '../format/mode.js';
import { Variant, bswap32, type FileHeader, type ObjectType } from '../format/objects.js';
import { tempName } from '../repo/fsutil.js';
import { RepoLock } from '../repo/lock.js';
import type { Repo } from '../repo/repo.js';
import { openContent, readContentSync } from '../store/read-content.js';
import { objectExists } from '../store/paths.js';
import { traverse } from '../store/traverse.js';
import { deltaRelDir, inlineKey, type DeltaName } from './names.js';
import { lzma, PART_PAYLOAD_TYPE } from './part.js';
import { encodeSuperblock, type DeltaObject, type FallbackEntry, type PartEntry } from './superblock.js';
import { writeVarint } from './varint.js';
import { bsdiff } from './bsdiff.js';
import { similarObjects } from './similar.js';
import type { LzmaOptions } from 'lzma-native';

/**
 * `static-delta generate`: the objects `to` reaches and `from` does not (all of them from
 * scratch), packed as ostree 2022.7 packs them (ostree-repo-static-delta-compilation.c): the new
 * metadata first (the commit itself goes in the superblock), then regular files, then symlinks,
 * each object one open-splice-and-close of its bytes, a new part whenever the next object would
 * take the part past `maxChunkSize`; regular files over `minFallbackSize` are left for the client
 * to fetch as objects. Each part is xz-compressed (preset 8, CRC64, as ostree) — the parts at
 * once, on liblzma's threads — then the parts are written, and the superblock last, so a delta
 * is either whole or not listed.
 *
 * A changed file (same name, size within 30%) goes as a bsdiff patch against its old version.
 * Not yet: ostree's rolling-checksum matching (bsdiff stands in for it), signing.
 */
export interface GenerateOptions {
  /** Bytes; files larger are fallbacks. 0: none. ostree's default 4 MB. */
  minFallbackSize?: number;
  /** Bytes of payload per part at most (a larger object gets a part of its own). ostree's default 32 MB. */
  maxChunkSize?: number;
  /** Bytes: a changed file is bsdiffed only when it and its old version together are at most this. ostree's default 128 MB. */
  maxBsdiffSize?: number;
  /** `--disable-bsdiff`: changed files travel whole. */
  disableBsdiff?: boolean;
  /** Put the parts into the superblock (one file). */
  inline?: boolean;
  /** Write the superblock to this path and the parts next to it instead of into the repository. */
  filename?: string;
  /** Print ostree's verbose lines (what `ostree static-delta generate` prints on stderr). */
  log?: (line: string) => void;
}

interface PartBuilder {
  objects: DeltaObject[];
  payload: Uint8Array[];
  payloadLength: number;
  ops: number[];
  usize: bigint;
  modes: Array<[number, number, number]>;
  modeIndex: Map<string, number>;
  xattrs: Array<Array<[Uint8Array, Uint8Array]>>;
  xattrIndex: Map<string, number>;
}

const newPart = (): PartBuilder => ({ objects: [], payload: [], payloadLength: 0, ops: [], usize: 0n, modes: [], modeIndex: new Map(), xattrs: [], xattrIndex: new Map() });
const OP_SPLICE = 0x53;
const OP = { setRead: 0x72, unsetRead: 0x52, open: 0x6f, bspatch: 0x42, close: 0x63 } as const;
/** ostree's xz settings (ostree-lzma-compressor.c): preset 8, CRC64. */
// The typings name checks by strings, which liblzma's binding does not understand: it takes the number.
const xzOptions = () => ({ preset: 8, check: (lzma() as unknown as { CHECK_CRC64: number }).CHECK_CRC64 }) as unknown as LzmaOptions;

export async function generateDelta(repo: Repo, name: DeltaName, opts: GenerateOptions = {}): Promise<{ parts: number; fallbacks: number }> {
  const log = opts.log ?? (() => undefined);
  const minFallback = opts.minFallbackSize ?? 4_000_000;
  const maxChunk = opts.maxChunkSize ?? 32_000_000;
  return RepoLock.with(repo, 'shared', async () => {
    const toReach = await traverse(repo, [name.to]);
    const fromReach = name.from === null ? new Set<string>() : await traverse(repo, [name.from]);
    const metadata: DeltaObject[] = [];
    const regular: Array<{ checksum: string; header: FileHeader; size: number }> = [];
    const symlinks: Array<{ checksum: string; header: FileHeader }> = [];
    for (const key of toReach) {
      if (fromReach.has(key)) continue;
      const dot = key.indexOf('.');
      const checksum = key.slice(0, dot);
      const type = key.slice(dot + 1) as ObjectType;
      if (type === 'commit' && checksum === name.to) continue;
      if (type !== 'file') {
        metadata.push({ type, checksum });
        continue;
      }
      const obj = await openContent(repo, checksum, { xattrs: true });
      if (isReg(obj.header.mode)) regular.push({ checksum, header: obj.header, size: obj.size });
      else if (isLink(obj.header.mode)) symlinks.push({ checksum, header: obj.header });
    }
    const modified = name.from !== null ? await similarObjects(repo, name.from, name.to, new Set(regular.map((r) => r.checksum))) : new Map<string, string>();
    log(`modified: ${modified.size}`);
    // ostree counts the to-commit here, before it leaves the list (the superblock carries it).
    log(`new reachable: metadata=${metadata.length + 1} content regular=${regular.length} symlink=${symlinks.length}`);

    const parts: PartBuilder[] = [newPart()];
    const add = (size: number) => {
      let p = parts.at(-1)!;
      if (p.objects.length > 0 && p.payloadLength + size > maxChunk) parts.push((p = newPart()));
      return p;
    };
    const splice = (p: PartBuilder, bytes: Uint8Array): number => {
      const at = p.payloadLength;
      p.payload.push(bytes);
      p.payloadLength += bytes.length;
      return at;
    };
    for (const m of metadata) {
      const bytes = await repo.readMetadata(m.checksum, m.type);
      const p = add(bytes.length);
      p.usize += BigInt(bytes.length);
      p.objects.push(m);
      const at = splice(p, bytes);
      p.ops.push(OP_SPLICE);
      writeVarint(p.ops, bytes.length);
      writeVarint(p.ops, at);
    }
    const fallbacks: FallbackEntry[] = [];
    const modeXattrs = (p: PartBuilder, header: FileHeader) => {
      const modeAt = indexOf(p.modeIndex, p.modes, `${header.uid}:${header.gid}:${header.mode}`, [bswap32(header.uid), bswap32(header.gid), bswap32(header.mode)]);
      const x = xattrList(header);
      return { modeAt, xattrAt: indexOf(p.xattrIndex, p.xattrs, x.map(([k, v]) => `${toHex(k)}=${toHex(v)}`).join(','), x) };
    };
    const content = (p: PartBuilder, checksum: string, header: FileHeader, bytes: Uint8Array) => {
      p.usize += BigInt(bytes.length);
      p.objects.push({ type: 'file', checksum });
      const { modeAt, xattrAt } = modeXattrs(p, header);
      const at = splice(p, bytes);
      p.ops.push(OP_SPLICE);
      writeVarint(p.ops, modeAt);
      writeVarint(p.ops, xattrAt);
      writeVarint(p.ops, bytes.length);
      writeVarint(p.ops, at);
    };
    log(`rollsum for 0/${modified.size} modified`);
    // Changed files as bsdiff patches against their old versions (ostree: after rollsum, which
    // grove does not do; bsdiff covers what it would have).
    const patched = new Set<string>();
    const maxBsdiff = opts.maxBsdiffSize ?? 128_000_000;
    for (const f of opts.disableBsdiff ? [] : regular) {
      const old = modified.get(f.checksum);
      if (old === undefined) continue;
      const oldObj = await openContent(repo, old, { xattrs: false });
      // As ostree: only an old file the client can read whatever its rights, and not too large.
      if ((oldObj.header.mode & 0o004) === 0 || oldObj.size + f.size > maxBsdiff) continue;
      const [oldBytes, newBytes] = [await readWhole(repo, old), await readWhole(repo, f.checksum)];
      const patch = bsdiff(oldBytes, newBytes);
      if (patch === null) continue;
      let p = parts.at(-1)!;
      if (p.objects.length > 0 && p.payloadLength > maxChunk) parts.push((p = newPart()));
      p.usize += BigInt(f.size);
      p.objects.push({ type: 'file', checksum: f.checksum });
      const { modeAt, xattrAt } = modeXattrs(p, f.header);
      p.ops.push(OP.setRead);
      writeVarint(p.ops, splice(p, fromHex(old)));
      p.ops.push(OP.open);
      writeVarint(p.ops, modeAt);
      writeVarint(p.ops, xattrAt);
      writeVarint(p.ops, f.size);
      p.ops.push(OP.bspatch);
      writeVarint(p.ops, splice(p, patch));
      writeVarint(p.ops, patch.length);
      p.ops.push(OP.close, OP.unsetRead);
      patched.add(f.checksum);
    }
    log(`processing bsdiff: [0/${patched.size}]`);
    for (const f of regular) {
      if (patched.has(f.checksum)) continue;
      if (minFallback > 0 && f.size > minFallback) {
        const stored = fs.statSync(repo.objectPath(f.checksum, 'file')).size;
        fallbacks.push({ type: 'file', checksum: f.checksum, size: BigInt(stored), usize: BigInt(f.size) });
        continue;
      }
      const bytes = await readWhole(repo, f.checksum);
      content(add(bytes.length), f.checksum, f.header, bytes);
    }
    for (const l of symlinks) {
      const bytes = Buffer.from(l.header.symlinkTarget, 'utf8');
      content(add(bytes.length), l.checksum, l.header, bytes);
    }

    const built = await Promise.all(parts.map((p) => compressPart(p)));
    const entries: PartEntry[] = built.map((b, i) => ({ version: 0, checksum: toHex(sha256(b.file)), size: BigInt(b.file.length), usize: parts[i]!.usize, objects: parts[i]!.objects }));
    built.forEach((b, i) => log(`part ${i + 1} n:${parts[i]!.objects.length} compressed:${b.file.length} uncompressed:${parts[i]!.usize}`));

    const meta: Array<[string, Variant]> = [['ostree.endianness', new Variant('y', 'l'.charCodeAt(0))]];
    if (opts.inline) built.forEach((b, i) => meta.push([inlineKey(name, i), new Variant('(yay)', [b.file[0]!, b.file.subarray(1)])]));
    if (objectExists(repo.objectsDir, name.to, 'commitmeta', repo.mode)) {
      meta.push([inlineKey(name, 'commitmeta'), new Variant('a{sv}', decode('a{sv}', await repo.readMetadata(name.to, 'commitmeta')))]);
    }
    const superblock = encodeSuperblock({
      metadata: meta,
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
      from: name.from,
      to: name.to,
      commitBytes: await repo.readMetadata(name.to, 'commit'),
      parts: entries,
      fallbacks,
    });

    const dir = opts.filename !== undefined ? path.dirname(path.resolve(opts.filename)) : path.join(repo.path, deltaRelDir(name));
    const superName = opts.filename !== undefined ? path.basename(opts.filename) : 'superblock';
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (!opts.inline) built.forEach((b, i) => writeReplacing(dir, String(i), b.file));
    writeReplacing(dir, superName, superblock);
    const total = built.reduce((n, b) => n + b.file.length, 0);
    const usize = parts.reduce((n, p) => n + p.usize, 0n);
    log(`uncompressed=${usize} compressed=${total} loose=${total}`);
    log(`rollsum=0 objects, 0 bytes`);
    log(`bsdiff=${patched.size} objects`);
    return { parts: built.length, fallbacks: fallbacks.length };
  });
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

/** A header's xattrs as ostree stores them: names NUL-terminated, sorted by name. */
function xattrList(h: FileHeader): Array<[Uint8Array, Uint8Array]> {
  return [...h.xattrs].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0]))).map(([n, v]) => [Buffer.concat([Buffer.from(n, 'utf8'), Buffer.from([0])]), v]);
}

async function readWhole(repo: Repo, checksum: string): Promise<Uint8Array> {
  const small = readContentSync(repo, checksum, { xattrs: false });
  if (small !== null) return small.data;
  const obj = await openContent(repo, checksum, { xattrs: false });
  const out = new Uint8Array(obj.size);
  let at = 0;
  for await (const c of obj.chunks()) {
    out.set(c, at);
    at += c.length;
  }
  if (at !== obj.size) throw new GroveError('GROVE_CORRUPT_OBJECT', `file object ${checksum} is shorter than its recorded size`);
  return out;
}

async function compressPart(p: PartBuilder): Promise<{ file: Uint8Array }> {
  const payload = encode(PART_PAYLOAD_TYPE, [p.modes, p.xattrs, Buffer.concat(p.payload, p.payloadLength), Uint8Array.from(p.ops)]);
  const packed = await new Promise<Buffer>((resolve, reject) => {
    lzma().compress(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), xzOptions(), (out: Buffer, err?: Error) => (err ? reject(err) : resolve(out)));
  });
  return { file: Buffer.concat([Buffer.from('x'), packed]) };
}

/** Writes `name` in `dir` through a temp file and a rename, as ostree replaces a delta's files. */
function writeReplacing(dir: string, name: string, bytes: Uint8Array): void {
  const tmp = path.join(dir, tempName('.grove-delta-'));
  fs.writeFileSync(tmp, bytes, { mode: 0o644 });
  fs.renameSync(tmp, path.join(dir, name));
}

