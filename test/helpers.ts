import { spawnSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { readXattrs } from '../src/xattr/xattrs.js';

/** Repository root (tests run from dist/test/…). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const GROVE_BIN = path.join(ROOT, 'dist/src/cli/grove.cjs');

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs the grove CLI as a child process, as a user would. */
export function grove(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunResult {
  const r = spawnSync(process.execPath, [GROVE_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    maxBuffer: 256 << 20,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let ostreeLink: string | undefined;

/** grove's entry point under the name `ostree`: a symlink in a temporary directory, made once per process. */
export function groveOstreeLink(): string {
  if (ostreeLink === undefined) {
    const bin = mkdtempSync(path.join(os.tmpdir(), 'grove-as-ostree-'));
    ostreeLink = path.join(bin, 'ostree');
    symlinkSync(GROVE_BIN, ostreeLink);
    process.on('exit', () => rmSync(bin, { recursive: true, force: true }));
  }
  return ostreeLink;
}

/**
 * Runs grove under the name `ostree` (a symlink in a temporary directory, made once per
 * process), as a drop-in install would: grove's usage lines then name the program as ostree's do.
 */
export function groveAsOstree(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunResult {
  const r = spawnSync(process.execPath, [groveOstreeLink(), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    maxBuffer: 256 << 20,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** grove that must succeed; returns stdout. */
export function groveOk(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const r = grove(args, opts);
  if (r.code !== 0) throw new Error(`grove ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Runs the real ostree; throws on failure unless `allowFail`. */
export function ostree(args: string[], opts: { allowFail?: boolean; cwd?: string } = {}): RunResult {
  const r = spawnSync('ostree', args, { encoding: 'utf8', maxBuffer: 256 << 20, cwd: opts.cwd });
  const res = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  if (!opts.allowFail && res.code !== 0) throw new Error(`ostree ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
  return res;
}

let ostreeAvailable: boolean | undefined;

/**
 * Whether the real ostree is installed. Interop suites skip without it, with a message; with
 * GROVE_REQUIRE_OSTREE=1 (CI) its absence is a failure instead.
 */
export function haveOstree(): boolean {
  if (ostreeAvailable === undefined) {
    ostreeAvailable = spawnSync('ostree', ['--version'], { encoding: 'utf8' }).status === 0;
    if (!ostreeAvailable && process.env['GROVE_REQUIRE_OSTREE'] === '1') {
      throw new Error('GROVE_REQUIRE_OSTREE=1 but the ostree binary is not installed (apt-get install ostree)');
    }
  }
  return ostreeAvailable;
}

/** `{ skip }` option for node:test when ostree is missing. */
export function needsOstree(): { skip: string | false } {
  return { skip: haveOstree() ? false : 'the real ostree is not installed (apt-get install ostree); interop test skipped' };
}

export const isRoot = process.getuid?.() === 0;

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'grove-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const base = process.env['GROVE_TEST_TMP'] ?? os.tmpdir();
  const dir = await fs.mkdtemp(path.join(base, prefix));
  return {
    dir,
    cleanup: async () => {
      // Read-only directories from checkouts must be made writable before removal.
      spawnSync('chmod', ['-R', 'u+rwx', dir]);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir` relative to it, sorted; used to check nothing was left behind. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/**
 * A listing of a checked-out tree that compares everything ostree preserves: type, permission
 * bits, owner (when `owners`), size, content hash, symlink target and xattrs (sorted).
 */
export async function describeTree(dir: string, opts: { owners?: boolean; xattrs?: boolean } = {}): Promise<string> {
  const lines: string[] = [];
  const walk = async (d: string, rel: string) => {
    const names = (await fs.readdir(d)).sort();
    for (const name of names) {
      const p = path.join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(p);
      let line = `${r} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)}`;
      if (opts.owners) line += ` ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) line += ` -> ${await fs.readlink(p)}`;
      else if (st.isFile()) line += ` ${st.size} ${await hashFile(p)}`;
      if (opts.xattrs !== false) {
        for (const [n, v] of readXattrs(p)) line += ` ${n}=${Buffer.from(v).toString('hex')}`;
      }
      lines.push(line);
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(dir, '');
  return lines.join('\n');
}

async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export { spawn };

/** A passphrase-less GPG key in its own homedir; returns its fingerprint and the public key file. */
export function makeGpgKey(home: string, name: string): { id: string; pub: string } {
  const gpg = (args: string[]) => {
    const r = spawnSync('gpg', ['--batch', '--homedir', home, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', `${name} <${name}@grove.test>`, 'ed25519', 'sign', 'never']);
  const id = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-keys']))![1]!;
  const pub = path.join(home, `${name}.asc`);
  spawnSync('gpg', ['--batch', '--homedir', home, '--armor', '--output', pub, '--export', id]);
  return { id, pub };
}
