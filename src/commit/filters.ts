import fs from 'node:fs/promises';
import { GroveError, isErrno } from '../errors.js';
import { S_IFDIR, S_IFMT, S_IFREG, isDir, isReg } from '../format/mode.js';

/**
 * Per-path metadata rules of `ostree commit`, applied in ostree's order: owner overrides, then
 * `--mode-ro-executables`, then `--statoverride` (`+MODE` bits added or `=MODE` replacing the
 * permission bits), then the skip list, then canonical permissions (`--canonical-permissions`,
 * implied by bare-user-only). Paths are relative to the committed root with a leading `/` (the
 * root itself is `/`).
 *
 * As in ostree, a `+MODE` line is used up by the first entry it matches, while an `=MODE` line
 * keeps applying (to the same path in a later `--tree=` layer too).
 */
export interface CommitFilters {
  ownerUid?: number;
  ownerGid?: number;
  /** `--mode-ro-executables`: a regular file with any execute bit loses every write bit. */
  roExecutables?: boolean;
  canonicalPermissions: boolean;
  modeAdds: Map<string, number>;
  modeOverrides: Map<string, number>;
  skip: Set<string>;
}

export interface EntryMeta { uid: number; gid: number; mode: number }

/**
 * Applies the rules to one entry; null when the skip list drops it. Consumes matched `+MODE` and
 * skip-list lines. `dropAdd` is for a directory below a tree's root, whose rules ostree applies
 * twice, the first time only to decide whether to skip it: a `+MODE` line is used up then and
 * never reaches the directory's metadata.
 */
export function applyFilters(f: CommitFilters, relPath: string, meta: EntryMeta, opts: { dropAdd?: boolean } = {}): EntryMeta | null {
  let { uid, gid, mode } = meta;
  if (f.ownerUid !== undefined) uid = f.ownerUid;
  if (f.ownerGid !== undefined) gid = f.ownerGid;
  if (f.roExecutables && isReg(mode) && (mode & 0o111) !== 0) mode &= ~0o222;
  const add = f.modeAdds.get(relPath);
  if (add !== undefined) {
    if (!opts.dropAdd) mode |= add;
    f.modeAdds.delete(relPath);
  } else {
    const override = f.modeOverrides.get(relPath);
    if (override !== undefined) mode = (mode & S_IFMT) | override;
  }
  if (f.skip.has(relPath)) {
    f.skip.delete(relPath);
    return null;
  }
  if (f.canonicalPermissions) {
    if (isReg(mode)) mode &= S_IFREG | 0o755;
    else if (isDir(mode)) mode &= S_IFDIR | 0o755;
    uid = 0;
    gid = 0;
  }
  return { uid, gid, mode };
}

/** Unmatched `+MODE` statoverride and skip-list lines are errors, as in ostree. */
export function checkAllMatched(f: CommitFilters): void {
  if (f.modeAdds.size > 0) {
    throw new GroveError('GROVE_UNMATCHED', `unmatched statoverride path: ${[...f.modeAdds.keys()].join(', ')}`);
  }
  if (f.skip.size > 0) {
    throw new GroveError('GROVE_UNMATCHED', `unmatched skip-list path: ${[...f.skip].join(', ')}`);
  }
}

async function readLines(file: string, option: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${option} file ${file} does not exist`, { path: file });
    throw e;
  }
  return text.split('\n').filter((l) => l.length > 0);
}

/** Parses a `--statoverride` file: lines `MODE PATH` (bits to add) or `=MODE PATH` (replace), MODE in decimal. */
export async function readStatOverride(file: string): Promise<{ adds: Map<string, number>; overrides: Map<string, number> }> {
  const adds = new Map<string, number>();
  const overrides = new Map<string, number>();
  for (const [i, line] of (await readLines(file, '--statoverride')).entries()) {
    const sp = line.indexOf(' ');
    if (sp < 0) throw new GroveError('GROVE_BAD_OPTION', `--statoverride ${file}:${i + 1}: malformed line (no space found)`);
    const spec = line.slice(0, sp);
    const p = line.slice(sp + 1);
    const replace = spec.startsWith('=');
    const n = Number.parseInt(replace ? spec.slice(1) : spec.replace(/^\+/, ''), 10);
    if (!Number.isFinite(n) || n < 0) throw new GroveError('GROVE_BAD_OPTION', `--statoverride ${file}:${i + 1}: bad mode '${spec}'`);
    (replace ? overrides : adds).set(p, n >>> 0);
  }
  return { adds, overrides };
}

/** Parses a `--skip-list` file: one path per line. */
export async function readSkipList(file: string): Promise<Set<string>> {
  return new Set(await readLines(file, '--skip-list'));
}
