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

  /** The same on any lock file, with flock(2). */
  static async acquireFile(lockFile: string, kind: 'shared' | 'exclusive', timeoutSecs = 30): Promise<RepoLock> {
    const flag = kind === 'shared' ? '--shared' : '--exclusive';
    // `echo` tells us the lock is held; `cat` then blocks until our end of stdin closes.
    return RepoLock.hold('flock', [flag, '--timeout', String(timeoutSecs), lockFile, 'sh', '-c', 'echo locked; exec cat >/dev/null'], lockFile, kind, timeoutSecs);
  }

  /**
   * A lock file as libglnx takes it, which is how ostree 2022.7 locks a sysroot (`ostree/lock`):
   * an open-file-description fcntl lock (F_OFD_SETLK), taken again if the file was unlinked
   * meanwhile, and the file unlinked by an exclusive holder on release. Those are separate from
   * flock(2) locks, so this is the lock that orders grove against `ostree admin`. Node has no
   * fcntl(2); a python3 child holds the lock as flock(1) does for the other kind.
   */
  static async acquireOfd(lockFile: string, kind: 'shared' | 'exclusive', timeoutSecs = 30): Promise<RepoLock> {
    return RepoLock.hold('python3', ['-c', OFD_HOLDER, lockFile, kind, String(timeoutSecs)], lockFile, kind, timeoutSecs);
  }

  private static async hold(cmd: string, args: string[], lockFile: string, kind: string, timeoutSecs: number): Promise<RepoLock> {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdout!.once('data', () => resolve());
      child.once('error', (e) => reject(new GroveError('GROVE_LOCK', `cannot run ${cmd} to lock ${lockFile}: ${e.message}`)));
      child.once('exit', (code) => reject(new GroveError('GROVE_LOCK', `could not take the ${kind} lock on ${lockFile} within ${timeoutSecs}s (${cmd} exit ${code}) ${stderr.trim()}`)));
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

/**
 * The OFD lock holder: argv lock-file, kind, timeout. Polls F_OFD_SETLK (so the timeout holds),
 * retries when the file it locked was unlinked by the previous exclusive holder, prints `locked`,
 * and on end of stdin (release, or our death) unlinks the file if exclusive, as libglnx does.
 * struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
 * (0 for OFD locks), padded to 32 bytes.
 */
const OFD_HOLDER = `
import fcntl, os, struct, sys, time
path, kind, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
ltype = fcntl.F_WRLCK if kind == 'exclusive' else fcntl.F_RDLCK
deadline = time.monotonic() + timeout
while True:
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    while True:
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack('hhqqi4x', ltype, 0, 0, 0, 0))
            break
        except (BlockingIOError, PermissionError):
            if time.monotonic() > deadline:
                sys.stderr.write('timed out\\n')
                sys.exit(3)
            time.sleep(0.02)
    if os.fstat(fd).st_nlink > 0:
        break
    os.close(fd)
print('locked', flush=True)
sys.stdin.read()
if kind == 'exclusive':
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
`;
