import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { CHECKSUM_RE, validateChecksum } from '../format/checksum.js';
import { isValidRef, parseRefspec, validateRemoteName } from '../format/names.js';
import { ensureDir, fsyncDir, writeFileAtomic } from './fsutil.js';

/**
 * Refs are files under `refs/heads/`, `refs/remotes/REMOTE/` and `refs/mirrors/`, each holding a
 * checksum and a newline. A refspec `REMOTE:REF` names a remote ref; a plain `REF` a local one.
 */
export interface RefLocation { remote: string | null; ref: string }

export function refFilePath(repoPath: string, loc: RefLocation): string {
  return loc.remote === null
    ? path.join(repoPath, 'refs', 'heads', loc.ref)
    : path.join(repoPath, 'refs', 'remotes', loc.remote, loc.ref);
}

export function formatRefspec(loc: RefLocation): string {
  return loc.remote === null ? loc.ref : `${loc.remote}:${loc.ref}`;
}

async function readRefFile(file: string, name: string): Promise<string | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) return null;
    throw e;
  }
  const csum = text.trim();
  if (!CHECKSUM_RE.test(csum)) {
    throw new GroveError('GROVE_CORRUPT_REF', `ref '${name}' (${file}) does not hold a checksum`);
  }
  return csum;
}

/** The checksum a ref points to, or null when it does not exist. */
export async function readRef(repoPath: string, refspec: string): Promise<string | null> {
  const loc = parseRefspec(refspec);
  return readRefFile(refFilePath(repoPath, loc), refspec);
}

/**
 * Resolves a revision as ostree does: a full checksum stands for itself; `REV^` is REV's parent
 * (handled by the caller, who can read commits); a ref is looked up in heads, then remotes
 * (`REMOTE/REF` or `REMOTE:REF`), then mirrors.
 */
export async function lookupRef(repoPath: string, rev: string): Promise<string | null> {
  if (CHECKSUM_RE.test(rev)) return rev;
  const loc = parseRefspec(rev);
  if (loc.remote !== null) return readRefFile(refFilePath(repoPath, loc), rev);
  for (const base of ['heads', 'remotes', 'mirrors']) {
    const c = await readRefFile(path.join(repoPath, 'refs', base, loc.ref), rev);
    if (c !== null) return c;
  }
  return null;
}

/** Every ref under refs/heads (local) and refs/remotes (as `REMOTE:REF`), sorted. */
export async function listRefs(repoPath: string, opts: { prefix?: string; remotes?: boolean } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await walkRefs(path.join(repoPath, 'refs', 'heads'), '', async (name, file) => {
    const c = await readRefFile(file, name);
    if (c !== null) out.set(name, c);
  });
  if (opts.remotes !== false) {
    let remotes: string[] = [];
    try {
      remotes = await fs.readdir(path.join(repoPath, 'refs', 'remotes'));
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    for (const remote of remotes) {
      await walkRefs(path.join(repoPath, 'refs', 'remotes', remote), '', async (name, file) => {
        const c = await readRefFile(file, `${remote}:${name}`);
        if (c !== null) out.set(`${remote}:${name}`, c);
      });
    }
  }
  const sorted = new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (opts.prefix === undefined) return sorted;
  const p = opts.prefix;
  return new Map([...sorted].filter(([k]) => k === p || k.startsWith(p.endsWith('/') ? p : `${p}/`)));
}

async function walkRefs(dir: string, prefix: string, visit: (name: string, file: string) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  for (const e of entries) {
    const name = prefix + e.name;
    if (e.isDirectory()) await walkRefs(path.join(dir, e.name), `${name}/`, visit);
    else if (e.isFile() && isValidRef(name)) await visit(name, path.join(dir, e.name));
  }
}

/**
 * Points a ref at `checksum` (or deletes it with null) atomically: a temp file renamed over the
 * ref, then the directory synced. The caller has made the commit and everything it reaches
 * durable first.
 */
export async function writeRef(repoPath: string, refspec: string, checksum: string | null): Promise<void> {
  const loc = parseRefspec(refspec);
  const file = refFilePath(repoPath, loc);
  if (checksum === null) {
    try {
      await fs.unlink(file);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NO_REF', `ref '${refspec}' not found`);
      throw e;
    }
    await fsyncDir(path.dirname(file));
    return;
  }
  validateChecksum(checksum);
  await ensureDir(path.dirname(file));
  await writeFileAtomic(file, `${checksum}\n`, path.join(repoPath, 'tmp'));
  await fsyncDir(path.dirname(file));
}

/**
 * Refs under a prefix, as `ostree refs PREFIX` lists them: PREFIX is `REF-PREFIX`,
 * `REMOTE:` or `REMOTE:REF-PREFIX`. A prefix naming a ref exactly yields that ref; a prefix
 * naming a directory yields the refs below it, named relative to it unless `keepPrefix`
 * (`--list`). Returns display name -> (full refspec, checksum).
 */
export async function listRefsUnder(repoPath: string, prefix: string, opts: { keepPrefix?: boolean } = {}): Promise<Map<string, { refspec: string; checksum: string }>> {
  const out = new Map<string, { refspec: string; checksum: string }>();
  const colon = prefix.indexOf(':');
  const remote = colon >= 0 ? prefix.slice(0, colon) : null;
  const rest = colon >= 0 ? prefix.slice(colon + 1) : prefix;
  if (remote !== null) validateRemoteName(remote);
  if (rest !== '' && !isValidRef(rest)) throw new GroveError('GROVE_BAD_REF', `invalid refspec '${prefix}'`);
  const base = remote === null ? path.join(repoPath, 'refs', 'heads') : path.join(repoPath, 'refs', 'remotes', remote);
  const spec = (name: string) => (remote === null ? name : `${remote}:${name}`);
  const exact = rest === '' ? null : await readRefFile(path.join(base, rest), prefix).catch((e: unknown) => {
    if (e instanceof GroveError) throw e;
    return null;
  });
  if (exact !== null) {
    out.set(spec(rest), { refspec: spec(rest), checksum: exact });
    return out;
  }
  const dir = rest === '' ? base : path.join(base, rest);
  await walkRefs(dir, '', async (name, file) => {
    const c = await readRefFile(file, name);
    if (c === null) return;
    const full = rest === '' ? name : `${rest}/${name}`;
    out.set(spec(opts.keepPrefix || rest === '' ? full : name), { refspec: spec(full), checksum: c });
  });
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
