import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { validateChecksum } from '../format/checksum.js';
import { validateCollectionId } from '../format/names.js';
import {
  decodeCommit, decodeDirMeta, decodeDirTree,
  type Commit, type DirMeta, type DirTree, type ObjectType,
} from '../format/objects.js';
import { configModeName, parseRepoMode, type RepoMode } from './mode.js';
import { objectExists, objectPath, parseObjectName } from '../store/paths.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { lookupRef } from './refs.js';
import { writeFileAtomic } from './fsutil.js';

const REPO_DIRS = ['objects', 'refs/heads', 'refs/remotes', 'refs/mirrors', 'state', 'tmp/cache', 'extensions'];

/** An ostree repository on disk. Open one with {@link Repo.open} or create one with {@link Repo.init}. */
export class Repo {
  private constructor(
    readonly path: string,
    readonly mode: RepoMode,
    public config: KeyFile,
  ) {}

  /**
   * Creates a repository at `repoPath` (the directory may exist if empty of a repo), as
   * `ostree init` lays it out. Re-initialising an existing repository of the same mode is a no-op
   * (as in ostree, which then leaves its config, collection ID included, as it was).
   * `collectionId` is written as `[core] collection-id` after the mode, where ostree puts it.
   */
  static async init(repoPath: string, opts: { mode: RepoMode | string; collectionId?: string }): Promise<Repo> {
    const mode = parseRepoMode(opts.mode);
    const abs = path.resolve(repoPath);
    try {
      const existing = await fs.readFile(path.join(abs, 'config'), 'utf8');
      const kf = KeyFile.parse(existing, path.join(abs, 'config'));
      const have = kf.get('core', 'mode');
      if (have !== undefined && parseRepoMode(have) !== mode) {
        throw new GroveError('GROVE_REPO_EXISTS', `${abs} is already a ${have} repository`);
      }
      return Repo.open(abs);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    for (const d of REPO_DIRS) await fs.mkdir(path.join(abs, d), { recursive: true });
    const config = new KeyFile();
    config.set('core', 'repo_version', '1');
    config.set('core', 'mode', configModeName(mode));
    if (opts.collectionId !== undefined) config.set('core', 'collection-id', validateCollectionId(opts.collectionId));
    await writeFileAtomic(path.join(abs, 'config'), config.toString(), path.join(abs, 'tmp'));
    return new Repo(abs, mode, config);
  }

  /** Opens an existing repository, with a clear error for a missing or foreign directory. */
  static async open(repoPath: string | undefined): Promise<Repo> {
    if (repoPath === undefined || repoPath === '') {
      throw new GroveError('GROVE_NO_REPO', 'no repository given', { hint: 'pass --repo=PATH or set OSTREE_REPO' });
    }
    const abs = path.resolve(repoPath);
    const configPath = path.join(abs, 'config');
    // ostree's checks, in its order and words: the directory, its objects/, then the config.
    const opening = (what: string, e: unknown) => new GroveError('GROVE_NO_REPO', `opening repo: ${what}: ${strerror(e)}`, { path: abs, ...(!what.includes(abs) && { subject: abs }) });
    const opendir = (p: string, what: string) => {
      try {
        fsSync.closeSync(fsSync.openSync(p, fsSync.constants.O_RDONLY | fsSync.constants.O_DIRECTORY));
      } catch (e) {
        throw opening(what, e);
      }
    };
    opendir(abs, `opendir(${abs})`);
    opendir(path.join(abs, 'objects'), 'opendir(objects)');
    let text: string;
    try {
      // Synchronous, as the ref reads: a small file, and fs.promises.readFile loads Node's stream
      // modules (2 ms of the start of every command).
      text = fsSync.readFileSync(configPath, 'utf8');
    } catch (e) {
      throw opening('openat(config)', e);
    }
    const config = KeyFile.parse(text, configPath);
    const version = config.get('core', 'repo_version');
    if (version === undefined) throw new GroveError('GROVE_BAD_REPO', 'opening repo: Key file does not have key “repo_version” in group “core”', { path: configPath, subject: configPath });
    if (version !== '1') throw new GroveError('GROVE_BAD_REPO', `opening repo: Invalid repository version '${version}'`, { path: configPath, subject: configPath });
    const modeName = config.get('core', 'mode') ?? 'bare';
    let mode: RepoMode;
    try {
      mode = parseRepoMode(modeName);
    } catch {
      throw new GroveError('GROVE_BAD_MODE', `opening repo: Invalid mode '${modeName}' in repository configuration`, { path: configPath, subject: configPath });
    }
    return new Repo(abs, mode, config);
  }

  /** `[core] collection-id`, or null when the repository has none. */
  get collectionId(): string | null {
    return this.config.get('core', 'collection-id') ?? null;
  }

  get objectsDir(): string {
    return path.join(this.path, 'objects');
  }

  get tmpDir(): string {
    return path.join(this.path, 'tmp');
  }

  /** `[archive] zlib-level`, default 6 as in ostree. */
  get zlibLevel(): number {
    const v = this.config.getInteger('archive', 'zlib-level');
    if (v === undefined) return 6;
    if (v < 1 || v > 9) throw new GroveError('GROVE_BAD_CONFIG', `${this.path}/config: archive.zlib-level ${v} is not 1..9`);
    return v;
  }

  objectPath(checksum: string, type: ObjectType): string {
    return objectPath(this.objectsDir, checksum, type, this.mode);
  }

  /*
   * Metadata reads and existence checks use synchronous calls behind their async signatures:
   * the objects are small, and commit and checkout make thousands of these calls from the main
   * thread, where a round trip through libuv's thread pool cost more than the call itself.
   */

  async hasObject(checksum: string, type: ObjectType): Promise<boolean> {
    return objectExists(this.objectsDir, checksum, type, this.mode);
  }

  /** Saves `config` atomically. */
  async saveConfig(): Promise<void> {
    await writeFileAtomic(path.join(this.path, 'config'), this.config.toString(), this.tmpDir);
  }

  /**
   * The bytes of a metadata object. With `verify`, the SHA-256 of the bytes must equal the
   * checksum (fsck and anything read from a foreign source).
   */
  async readMetadata(checksum: string, type: ObjectType, opts: { verify?: boolean } = {}): Promise<Uint8Array> {
    return readMetadataSync(this, checksum, type, opts);
  }

  async loadCommit(checksum: string): Promise<Commit> {
    return decodeCommit(await this.readMetadata(checksum, 'commit'), `commit ${checksum}`);
  }

  async loadDirTree(checksum: string): Promise<DirTree> {
    return decodeDirTree(await this.readMetadata(checksum, 'dirtree'), `dirtree ${checksum}`);
  }

  async loadDirMeta(checksum: string): Promise<DirMeta> {
    return decodeDirMeta(await this.readMetadata(checksum, 'dirmeta'), `dirmeta ${checksum}`);
  }

  /**
   * Resolves a revision (ref, `REMOTE:REF`, checksum, or any of these followed by `^`s for
   * parents) to a commit checksum. Throws GROVE_NO_REF when it does not exist, unless
   * `allowMissing`, when it returns null.
   */
  async resolveRev(rev: string, opts: { allowMissing?: boolean } = {}): Promise<string | null> {
    let base = rev;
    let parents = 0;
    while (base.endsWith('^')) {
      base = base.slice(0, -1);
      parents++;
    }
    if (/^[0-9a-fA-F]{64}$/.test(base)) base = base.toLowerCase();
    // As ostree: a unique beginning of a commit checksum names that commit, before refs.
    let csum = /^[0-9a-f]{1,63}$/.test(base) ? await this.commitWithPrefix(base) : null;
    csum ??= await lookupRef(this.path, base);
    if (csum === null) {
      if (opts.allowMissing && parents === 0) return null;
      // ostree's words, without a hint: scripts compare what `ostree rev-parse` prints.
      throw new GroveError('GROVE_NO_REF', `Refspec '${base}' not found`, { path: this.path });
    }
    for (let i = 0; i < parents; i++) {
      const commit = await this.loadCommit(csum);
      if (commit.parent === null) throw new GroveError('GROVE_NO_REF', `Commit ${csum} has no parent`);
      csum = commit.parent;
    }
    return validateChecksum(csum);
  }

  /** The one commit object whose checksum starts with `prefix`, null if none; ambiguous is an error. */
  private async commitWithPrefix(prefix: string): Promise<string | null> {
    const dirs = prefix.length >= 2 ? [prefix.slice(0, 2)] : Array.from({ length: 16 }, (_, i) => prefix + i.toString(16));
    const found: string[] = [];
    for (const d of dirs) {
      let names: string[];
      try {
        names = await fs.readdir(path.join(this.objectsDir, d));
      } catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR')) continue;
        throw e;
      }
      for (const n of names) {
        if (n.endsWith('.commit') && (d + n).startsWith(prefix)) found.push(d + n.slice(0, -'.commit'.length));
      }
    }
    if (found.length > 1) throw new GroveError('GROVE_AMBIGUOUS', `refspec ${prefix} not unique: ${found.length} commits start with it`);
    return found[0] ?? null;
  }

  /** Every loose object in the store, in checksum order. */
  async *looseObjects(): AsyncGenerator<{ checksum: string; type: ObjectType }> {
    let dirs: string[];
    try {
      dirs = await fs.readdir(this.objectsDir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    for (const d of dirs.sort()) {
      let names: string[];
      try {
        names = await fs.readdir(path.join(this.objectsDir, d));
      } catch (e) {
        if (isErrno(e, 'ENOTDIR')) continue;
        throw e;
      }
      for (const n of names.sort()) {
        const o = parseObjectName(d, n);
        if (o) yield o;
      }
    }
  }
}
