import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { groveOstreeLink, type RunResult } from '../helpers.js';
import { lsRC } from './support.js';

/**
 * The drop-in checks: one command line, run by ostree on one twin repository and by grove on
 * the other, must give the same exit status, stdout and stderr (and, for commits, the same
 * checksum and `ostree ls -R -C`).
 */

export interface Twins { g: string; o: string }

/** Runs `cmd args` without blocking the event loop (a test may be serving the pull), with `env` added. */
export function runEnv(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string | Buffer, cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...(cwd !== undefined && { cwd }) });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Per-tool working directories, so that relative destinations read the same in messages. */
export type RunOpts = { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: Twins };

/**
 * `args(repo)` under both tools: ostree on `repos.o`, grove on `repos.g` (at the same time),
 * grove under the name `ostree` as a drop-in install runs it (its lines are then ostree's, with
 * no path added where ostree's words leave it out). GROVE_NO_PROGRESS keeps grove's progress
 * line out of stderr.
 */
export async function both(repos: Twins, args: (repo: string) => string[], opts: RunOpts = {}): Promise<{ g: RunResult; o: RunResult }> {
  const [g, o] = await Promise.all([
    runEnv(process.execPath, [groveOstreeLink(), ...args(repos.g)], { GROVE_NO_PROGRESS: '1', ...opts.env }, opts.input, opts.cwd?.g),
    runEnv('ostree', args(repos.o), opts.env, opts.input, opts.cwd?.o),
  ]);
  return { g, o };
}

/** Both tools said the same thing: status, stdout, stderr (each repository's path put as REPO). */
export function assertSame(r: { g: RunResult; o: RunResult }, repos: Twins, what: string, check: { stdout?: boolean; stderr?: boolean } = {}): void {
  const norm = (s: string, repo: string) => s.split(repo).join('REPO');
  assert.equal(r.g.code, r.o.code, `${what}: exit status (grove stderr: ${r.g.stderr.trim()}; ostree stderr: ${r.o.stderr.trim()})`);
  if (check.stdout !== false) assert.equal(norm(r.g.stdout, repos.g), norm(r.o.stdout, repos.o), `${what}: stdout`);
  if (check.stderr !== false) assert.equal(norm(r.g.stderr, repos.g), norm(r.o.stderr, repos.o), `${what}: stderr`);
}

/**
 * A commit by both tools with `args` (the repository option is added): same status, same
 * printed checksum, same `ls -R -C` of `rev` (the new commit by default). Returns the checksum.
 */
export async function sameCommit(repos: Twins, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; rev?: string } = {}): Promise<string> {
  const r = await both(repos, (repo) => ['commit', `--repo=${repo}`, ...args], opts);
  assertSame(r, repos, `commit ${args.join(' ')}`);
  assert.equal(r.o.code, 0, `ostree commit ${args.join(' ')} failed: ${r.o.stderr}`);
  const c = r.o.stdout.trim();
  assert.match(c, /^[0-9a-f]{64}$/);
  assert.equal(lsRC(repos.g, opts.rev ?? c), lsRC(repos.o, opts.rev ?? c), `ls -R -C after commit ${args.join(' ')}`);
  return c;
}

/** The same command fails for both, with the same status and stderr; returns ostree's stderr. */
export async function sameFailure(repos: Twins, args: (repo: string) => string[], opts: RunOpts & { stderr?: boolean } = {}): Promise<string> {
  const r = await both(repos, args, opts);
  assert.notEqual(r.o.code, 0, `ostree ${args(repos.o).join(' ')} succeeded`);
  assertSame(r, repos, args(repos.o).join(' '), { stderr: opts.stderr !== false });
  return r.o.stderr;
}

/** The bytes of a commit's detached metadata in `repo`, or null. */
export async function detachedOf(repo: string, commit: string): Promise<Buffer | null> {
  return fs.readFile(path.join(repo, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commitmeta`)).catch(() => null);
}
