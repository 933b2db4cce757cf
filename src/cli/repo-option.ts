import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { GroveError, strerror } from '../errors.js';
import { Repo } from '../repo/repo.js';
import { UsageError } from './invocation.js';

/** `--repo`; without it, the default repository ostree picks (see defaultRepoPath). */
export function withRepo(cmd: Command): Command {
  return cmd.option('--repo <path>', 'path to the repository (default: the current directory if it is one, else $OSTREE_REPO, else /ostree/repo)');
}

/**
 * The repository ostree uses when no `--repo` is given: the current directory when it holds
 * `objects/` and a `config` file, else `$OSTREE_REPO` when set and not empty, else the system's
 * `/ostree/repo`.
 */
export function defaultRepoPath(): string {
  const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
  const isFile = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isFile() === true;
  if (isDir('objects') && isFile('config')) return '.';
  const env = process.env['OSTREE_REPO'];
  return env ? env : '/ostree/repo';
}

/**
 * Opens `--repo`, or the default repository. When there is no default repository, ostree prints
 * the verb's usage and `Command requires a --repo argument`; so does grove.
 */
export async function openRepo(opts: { repo?: string | undefined }): Promise<Repo> {
  if (opts.repo !== undefined) return Repo.open(opts.repo);
  try {
    return await Repo.open(defaultRepoPath());
  } catch (e) {
    if (e instanceof GroveError && e.code === 'GROVE_NO_REPO') throw new UsageError('Command requires a --repo argument', { blankLine: false });
    throw e;
  }
}

/** `--sysroot` of the verbs that take it beside `--repo` (`remote add`, `remote delete`). */
export function withSysroot(cmd: Command): Command {
  return cmd.option('--sysroot <path>', "use the repository of the sysroot at PATH (overrides --repo)");
}

/**
 * The repository `--sysroot` names, else `--repo`'s (see openRepo). ostree loads the sysroot
 * first: a path that is not a directory, or that has no `ostree/repo`, fails in its words.
 */
export async function openSysrootOrRepo(opts: { repo?: string | undefined; sysroot?: string | undefined }): Promise<Repo> {
  if (opts.sysroot === undefined) return openRepo(opts);
  const opendir = (p: string, shown: string): void => {
    try {
      fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
    } catch (e) {
      throw new GroveError('GROVE_NOT_SYSROOT', `loading sysroot: opendir(${shown}): ${strerror(e)}`, { path: p });
    }
  };
  // ostree names the sysroot by its absolute path, the repository in it relative to it.
  opendir(opts.sysroot, path.resolve(opts.sysroot));
  const repoPath = path.join(opts.sysroot, 'ostree/repo');
  opendir(repoPath, 'ostree/repo');
  return Repo.open(repoPath);
}
