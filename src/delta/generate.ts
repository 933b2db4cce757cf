import fs from 'node:fs';
import path from 'node:path';
import { decode } from '../format/gvariant.js';
import { isLink, isReg } from '../format/mode.js';
import { Variant, type FileHeader, type ObjectType } from '../format/objects.js';
import { writeFileAtomic } from '../repo/fsutil.js';
import { RepoLock } from '../repo/lock.js';
import type { Repo } from '../repo/repo.js';
import { objectExists } from '../store/paths.js';
import { openContent } from '../store/read-content.js';
import { traverse } from '../store/traverse.js';
import { bsdiff } from './bsdiff.js';
import { deltaRelDir, inlineKey, type DeltaName } from './names.js';
import { PartQueue, type BuiltPart } from './part-queue.js';
import { readSourceContent } from './read-source.js';
import { similarObjects } from './similar.js';
import { encodeSuperblock, type DeltaObject, type FallbackEntry } from './superblock.js';
import { signSuperblock } from './signed-superblock.js';
import type { SignEngine } from '../sign/engines.js';

/**
 * `static-delta generate`: the objects `to` reaches and `from` does not (all of them from
 * scratch), packed in ostree 2022.7's order (ostree-repo-static-delta-compilation.c): the new
 * metadata (the commit itself goes in the superblock), then changed files as bsdiff patches
 * against their old versions (paired by name and size, as ostree pairs them), then regular
 * files, then symlinks; a new part whenever the next object would take the part past
 * `maxChunkSize`; regular files over `minFallbackSize` are left for the client to fetch as
 * objects. Parts are compressed as they fill (part-queue.ts); they take their names at the end,
 * and the superblock comes last, so a delta is listed only once whole.
 *
 * Not yet: ostree's rolling-checksum matching (bsdiff stands in for it), big-endian.
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
  /** Hears ostree's verbose lines (what `ostree static-delta generate` prints on stderr). */
  log?: (line: string) => void;
  /** `--sign`: the superblock is signed by each of these secret keys (signed-superblock.ts). */
  sign?: { engine: SignEngine; keys: readonly string[] };
}

interface NewObjects {
  metadata: DeltaObject[];
  regular: Array<{ checksum: string; header: FileHeader; size: number }>;
  symlinks: Array<{ checksum: string; header: FileHeader }>;
}

export async function generateDelta(repo: Repo, name: DeltaName, opts: GenerateOptions = {}): Promise<{ parts: number; fallbacks: number }> {
  const log = opts.log ?? (() => undefined);
  // A key that cannot sign is refused before the work, not after it as in ostree (same words).
  for (const k of opts.sign?.keys ?? []) opts.sign!.engine.sign(new Uint8Array(0), k);
  return RepoLock.with(repo, 'shared', async () => {
    const found = await newObjects(repo, name);
    const modified = name.from !== null ? await similarObjects(repo, name.from, name.to, new Map(found.regular.map((r) => [r.checksum, r.size]))) : new Map<string, string>();
    log(`modified: ${modified.size}`);
    // ostree counts the to-commit here, before it leaves the list (the superblock carries it).
    log(`new reachable: metadata=${found.metadata.length + 1} content regular=${found.regular.length} symlink=${found.symlinks.length}`);
    log(`rollsum for 0/${modified.size} modified`);

    const dir = opts.filename !== undefined ? path.dirname(path.resolve(opts.filename)) : path.join(repo.path, deltaRelDir(name));
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const parts = new PartQueue(dir, opts.inline === true, opts.maxChunkSize ?? 32_000_000);
    let packed: { fallbacks: FallbackEntry[]; patched: number };
    try {
      packed = await pack(repo, found, modified, parts, opts);
    } catch (e) {
      await parts.abort();
      throw e;
    }
    log(`processing bsdiff: [0/${packed.patched}]`);
    const built = await parts.finish();
    built.forEach((b, i) => log(`part ${i + 1} n:${b.objects.length} compressed:${b.size} uncompressed:${b.usize}`));
    try {
      await writeDelta(repo, name, dir, built, packed.fallbacks, opts);
    } catch (e) {
      for (const b of built) if (b.tmp !== null) fs.rmSync(b.tmp, { force: true });
      throw e;
    }
    const total = built.reduce((n, b) => n + b.size, 0);
    log(`uncompressed=${built.reduce((n, b) => n + b.usize, 0n)} compressed=${total} loose=${total}`);
    log('rollsum=0 objects, 0 bytes');
    log(`bsdiff=${packed.patched} objects`);
    return { parts: built.length, fallbacks: packed.fallbacks.length };
  });
}

/** What `to` reaches and `from` does not, content sorted into regular files and symlinks. */
async function newObjects(repo: Repo, name: DeltaName): Promise<NewObjects> {
  const toReach = await traverse(repo, [name.to]);
  const fromReach = name.from === null ? new Set<string>() : await traverse(repo, [name.from]);
  const out: NewObjects = { metadata: [], regular: [], symlinks: [] };
  for (const key of toReach) {
    if (fromReach.has(key)) continue;
    const dot = key.indexOf('.');
    const checksum = key.slice(0, dot);
    const type = key.slice(dot + 1) as ObjectType;
    if (type === 'commit' && checksum === name.to) continue;
    if (type !== 'file') {
      out.metadata.push({ type, checksum });
      continue;
    }
    const obj = await openContent(repo, checksum, { xattrs: true });
    if (isReg(obj.header.mode)) out.regular.push({ checksum, header: obj.header, size: obj.size });
    else if (isLink(obj.header.mode)) out.symlinks.push({ checksum, header: obj.header });
  }
  return out;
}

async function pack(repo: Repo, found: NewObjects, modified: Map<string, string>, parts: PartQueue, opts: GenerateOptions): Promise<{ fallbacks: FallbackEntry[]; patched: number }> {
  for (const m of found.metadata) await parts.metadata(m, await repo.readMetadata(m.checksum, m.type));
  const patched = new Set<string>();
  const maxBsdiff = opts.maxBsdiffSize ?? 128_000_000;
  for (const f of opts.disableBsdiff ? [] : found.regular) {
    const old = modified.get(f.checksum);
    if (old === undefined) continue;
    const oldObj = await openContent(repo, old, { xattrs: false });
    // As ostree: only an old file any client can read, and not too large a pair.
    if ((oldObj.header.mode & 0o004) === 0 || oldObj.size + f.size > maxBsdiff) continue;
    const patch = bsdiff(await readSourceContent(repo, old), await readSourceContent(repo, f.checksum));
    if (patch === null) continue;
    await parts.patched(f.checksum, f.header, f.size, old, patch);
    patched.add(f.checksum);
  }
  const fallbacks: FallbackEntry[] = [];
  const minFallback = opts.minFallbackSize ?? 4_000_000;
  for (const f of found.regular) {
    if (patched.has(f.checksum)) continue;
    if (minFallback > 0 && f.size > minFallback) {
      const stored = fs.statSync(repo.objectPath(f.checksum, 'file')).size;
      fallbacks.push({ type: 'file', checksum: f.checksum, size: BigInt(stored), usize: BigInt(f.size) });
      continue;
    }
    await parts.content(f.checksum, f.header, await readSourceContent(repo, f.checksum));
  }
  for (const l of found.symlinks) await parts.content(l.checksum, l.header, Buffer.from(l.header.symlinkTarget, 'utf8'));
  return { fallbacks, patched: patched.size };
}

/** Names the parts, then writes the superblock that lists them (with the commit's detached metadata). */
async function writeDelta(repo: Repo, name: DeltaName, dir: string, built: BuiltPart[], fallbacks: FallbackEntry[], opts: GenerateOptions): Promise<void> {
  const meta: Array<[string, Variant]> = [['ostree.endianness', new Variant('y', 'l'.charCodeAt(0))]];
  if (opts.inline) built.forEach((b, i) => meta.push([inlineKey(name, i), new Variant('(yay)', [b.file![0]!, b.file!.subarray(1)])]));
  if (objectExists(repo.objectsDir, name.to, 'commitmeta', repo.mode)) {
    meta.push([inlineKey(name, 'commitmeta'), new Variant('a{sv}', decode('a{sv}', await repo.readMetadata(name.to, 'commitmeta')))]);
  }
  const superblock = encodeSuperblock({
    metadata: meta,
    timestamp: BigInt(Math.floor(Date.now() / 1000)),
    from: name.from,
    to: name.to,
    commitBytes: await repo.readMetadata(name.to, 'commit'),
    parts: built.map((b) => ({ version: 0, checksum: b.checksum, size: BigInt(b.size), usize: b.usize, objects: b.objects })),
    fallbacks,
  });
  built.forEach((b, i) => { if (b.tmp !== null) fs.renameSync(b.tmp, path.join(dir, String(i))); });
  const file = opts.sign && opts.sign.keys.length > 0 ? signSuperblock(superblock, opts.sign.engine, opts.sign.keys) : superblock;
  await writeFileAtomic(path.join(dir, opts.filename !== undefined ? path.basename(opts.filename) : 'superblock'), file, dir);
}
