import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ostree } from '../helpers.js';

/**
 * Pieces shared by the repository-lock suites: child processes watched without blocking, a
 * lock on `REPO/.lock` held by a process that is neither grove nor ostree but takes exactly
 * ostree's kind of lock, and files of a few small trees.
 */

export interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Spawns `cmd` and collects its output; `exited` settles on close. */
export function start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {}): { child: ChildProcess; exited: Promise<Exit> } {
  const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return { child, exited: new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))) };
}

/** True when `p` has not settled `ms` milliseconds from now. */
export async function pendingAfter(p: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = p.then(() => false, () => false);
  return Promise.race([settled, sleep(ms).then(() => true)]);
}

/**
 * An OFD fcntl lock on `REPO/.lock` held by a python3 process, as ostree's `ostree_repo_lock_push`
 * takes it (F_OFD_SETLKW on the whole file). Resolves once it is held.
 */
export async function holdOfd(repo: string, kind: 'shared' | 'exclusive'): Promise<{ release: () => Promise<void> }> {
  const script = [
    'import fcntl, os, struct, sys',
    "fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o660)",
    `fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, struct.pack('hhqqi4x', fcntl.${kind === 'exclusive' ? 'F_WRLCK' : 'F_RDLCK'}, 0, 0, 0, 0))`,
    "print('locked', flush=True)",
    'sys.stdin.read()',
  ].join('\n');
  const { child, exited } = start('python3', ['-c', script, path.join(repo, '.lock')], { stdin: 'pipe' });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    void exited.then((e) => reject(new Error(`lock holder exited: ${e.stderr}`)));
  });
  return {
    release: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}

/** Sets `[core] lock-timeout-secs` with the real ostree. */
export function setLockTimeout(repo: string, secs: number): void {
  ostree(['config', `--repo=${repo}`, 'set', '--', 'core.lock-timeout-secs', String(secs)]);
}

/** `count` small files of their own (content tagged with `tag`), in a few directories. */
export async function smallTree(root: string, tag: string, count = 24): Promise<void> {
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `d${i % 4}`);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `f${i}`), `${tag} file ${i}\n`.repeat(1 + (i % 7)));
  }
}

/** Every ref under `refs/heads`, by name. */
export function localRefs(repo: string): string[] {
  const heads = path.join(repo, 'refs/heads');
  return (fsSync.readdirSync(heads, { recursive: true }) as string[]).filter((f) => fsSync.statSync(path.join(heads, f)).isFile()).sort();
}

/**
 * `ostree fsck` passes and every ref's commit is complete (`ostree ls -R` of it works); returns
 * the local refs.
 */
export function assertSound(repo: string, what: string): string[] {
  const fsck = ostree(['fsck', `--repo=${repo}`], { allowFail: true });
  if (fsck.code !== 0) throw new Error(`${what}: ostree fsck failed:\n${fsck.stdout}\n${fsck.stderr}`);
  const refs = localRefs(repo);
  for (const ref of refs) {
    const ls = ostree(['ls', `--repo=${repo}`, '-R', ref], { allowFail: true });
    if (ls.code !== 0) throw new Error(`${what}: ref ${ref} does not name a complete commit: ${ls.stderr}`);
  }
  return refs;
}
