import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { GroveError } from '../errors.js';

/**
 * The repository lock: `REPO/.lock`, shared while a transaction writes objects, exclusive for
 * operations that delete them. Node cannot call flock(2), so a `flock(1)` child holds the lock
 * for us: it takes the lock, reports on stdout, then waits on stdin; when we release (or die,
 * even by SIGKILL) its stdin closes and the lock goes with it. A crash therefore never leaves a
 * stale lock behind.
 *
 * ostree 2022.7 takes OFD fcntl locks on the same file, which Linux keeps separate from flock
 * locks: this lock orders grove against grove, not yet against ostree (see the README).
 */
export class RepoLock {
  private constructor(private readonly child: ChildProcess) {}

  static async acquire(repoPath: string, kind: 'shared' | 'exclusive', timeoutSecs = 30): Promise<RepoLock> {
    return RepoLock.acquireFile(path.join(repoPath, '.lock'), kind, timeoutSecs);
  }

  /**
   * The same on any lock file; the sysroot's is `ostree/lock`, which ostree 2022.7 locks with
   * flock(2) too (libglnx's lock files), so there the two tools do exclude each other.
   */
  static async acquireFile(lockFile: string, kind: 'shared' | 'exclusive', timeoutSecs = 30): Promise<RepoLock> {
    const flag = kind === 'shared' ? '--shared' : '--exclusive';
    // `echo` tells us the lock is held; `cat` then blocks until our end of stdin closes.
    const child = spawn('flock', [flag, '--timeout', String(timeoutSecs), lockFile, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdout!.once('data', () => resolve());
      child.once('error', (e) => reject(new GroveError('GROVE_LOCK', `cannot run flock(1) to lock ${lockFile}: ${e.message}`)));
      child.once('exit', (code) => reject(new GroveError('GROVE_LOCK', `could not take the ${kind} lock on ${lockFile} within ${timeoutSecs}s (flock exit ${code}) ${stderr.trim()}`)));
    });
    child.removeAllListeners('exit');
    // The lock holder must not keep our event loop alive on its own.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    return new RepoLock(child);
  }

  /** Releases the lock; safe to call twice. */
  async release(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    // Waiting for the exit must keep the event loop alive, or a process whose last work is
    // releasing the lock would end with the promise unsettled.
    this.child.ref();
    this.child.stdin!.end();
    await exited;
  }
}
