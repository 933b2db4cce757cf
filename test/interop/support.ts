import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GROVE_BIN, describeTree, groveOk, isRoot, needsOstree, ostree, type RunResult } from '../helpers.js';

/**
 * Shared pieces of the interop suites: repositories made by both tools side by side, and the
 * comparisons the suites make between them. Golden truth is always what the real ostree does.
 */

/**
 * `{ skip }` for suites that need the real ostree and root: bare repositories store real owners,
 * the fixture carries security.capability, and checkouts without -U restore owners.
 */
export function needsOstreeAsRoot(): { skip: string | false } {
  const o = needsOstree();
  if (o.skip) return o;
  return { skip: isRoot ? false : 'needs root (bare repositories, owners, security.capability); interop test skipped' };
}

export const MODES = ['archive', 'bare', 'bare-user', 'bare-user-only'] as const;
export type Mode = (typeof MODES)[number];

/** One fixed commit time, so commits by both tools can be compared by checksum. */
export const TIMESTAMP = '@1700000000';

/** `grove init` and `ostree init` of the same mode: `DIR/grove-repo` and `DIR/ostree-repo`. */
export function initRepos(dir: string, mode: Mode | string): { g: string; o: string } {
  const g = path.join(dir, 'grove-repo');
  const o = path.join(dir, 'ostree-repo');
  groveOk(['init', `--repo=${g}`, `--mode=${mode}`]);
  ostree(['init', `--repo=${o}`, `--mode=${mode}`]);
  return { g, o };
}

/** Runs a child process without blocking the event loop (so two tools can run at once). */
export function run(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Async `grove`: runs it without blocking this process (which may be serving it), whatever its exit. */
export function groveRun(args: string[]): Promise<RunResult> {
  return run(process.execPath, [GROVE_BIN, ...args]);
}

/** Async `groveOk`. */
export async function groveAsync(args: string[]): Promise<string> {
  const r = await groveRun(args);
  if (r.code !== 0) throw new Error(`grove ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Async `ostree` that must succeed. */
export async function ostreeAsync(args: string[]): Promise<string> {
  const r = await run('ostree', args);
  if (r.code !== 0) throw new Error(`ostree ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Commits `tree` with the same arguments into grove's repository with grove and into ostree's
 * with ostree (both at once); returns the two printed checksums.
 */
export async function commitBoth(repos: { g: string; o: string }, args: string[]): Promise<{ g: string; o: string }> {
  const [g, o] = await Promise.all([
    groveAsync(['commit', `--repo=${repos.g}`, ...args]),
    ostreeAsync(['commit', `--repo=${repos.o}`, ...args]),
  ]);
  return { g: g.trim(), o: o.trim() };
}

/** `ostree ls -R -C REV`: byte-identical listings mean byte-identical trees. */
export function lsRC(repo: string, rev: string): string {
  return ostree(['ls', `--repo=${repo}`, '-R', '-C', rev]).stdout;
}

/**
 * A checked-out tree as `describeTree` sees it (type, mode, owner, size, content hash, symlink
 * target, xattrs), plus the root directory's own mode and owner, and which regular files are
 * hard links into the repository or elsewhere (link count above one). The link count itself is
 * not compared: it depends on how many checkouts share the object.
 */
export async function treeState(dir: string, opts: { owners: boolean; links?: boolean }): Promise<string> {
  const st = await fs.lstat(dir);
  let out = `. ${(st.mode & 0o7777).toString(8)}${opts.owners ? ` ${st.uid}:${st.gid}` : ''}\n`;
  out += await describeTree(dir, { owners: opts.owners });
  if (opts.links !== false) out += `\nlinked: ${(await linkedFiles(dir)).join(' ')}`;
  return out;
}

async function linkedFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of (await fs.readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p, r);
      else if (e.isFile() && (await fs.lstat(p)).nlink > 1) out.push(r);
    }
  };
  await walk(dir, '');
  return out;
}

/** Directories whose mtime is not 0, the constant ostree gives the directories it creates. */
export async function dirsWithNonZeroMtime(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    if ((await fs.lstat(d)).mtimeMs !== 0) out.push(rel || '.');
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name), rel ? `${rel}/${e.name}` : e.name);
    }
  };
  await walk(dir, '');
  return out.sort();
}
