import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';

/**
 * The repository lock, ostree's protocol on `REPO/.lock` (libostree's `ostree_repo_lock_push`
 * and `_pop`): an open-file-description fcntl lock (F_OFD_SETLK[W]) on the whole file, F_RDLCK
 * while a transaction writes objects or refs move, F_WRLCK for prune and other deletions. The
 * file is opened O_CREAT|O_RDWR|O_CLOEXEC, mode 0660 (less the umask), and never unlinked.
 *
 * Within one process there is one open file per repository, and holders are counted as ostree
 * counts them: a push of the kind already held, or of shared while exclusive is held, only
 * counts; shared becomes exclusive when an exclusive is pushed, and goes back to shared when
 * the last exclusive is popped. So a process that has a transaction open (shared) and then
 * prunes upgrades its own lock instead of waiting for itself.
 *
 * `[core] lock-timeout-secs` (default 30) bounds each wait: -1 waits for ever, 0 tries once,
 * N waits up to N seconds. `[core] locking=false` disables locking, and so does -2, ostree's
 * internal value for that; below -2 ostree aborts, grove refuses the config. As in ostree, a
 * repository whose `objects/` the user cannot write is not locked at all.
 *
 * Node has no fcntl(2): one python3 child per repository per process holds the open file and
 * takes commands (lock shared / lock exclusive / unlock) on its stdin. It watches its stdin
 * for hang-up even while it waits for a lock, so when this process ends, even by SIGKILL, the
 * child exits and the kernel drops the lock with its file. That child costs its start-up once
 * per command: from spawn to the first lock held, 15 ms with the system's /usr/bin/python3
 * started -I -S (median of 20, on a loaded 2-core machine; 90 ms through a pyenv shim, which is
 * why the system one is preferred). It is left running, unlocked, for {@link IDLE_MS} after the
 * last release, so the several locks one command takes share it.
 */
export type LockKind = 'shared' | 'exclusive';

/** What the lock needs of a repository: its path and, when already read, its config. */
export type LockTarget = string | { readonly path: string; readonly config: KeyFile };

export class RepoLock {
  private released = false;

  private constructor(private readonly holder: Holder | null, private readonly kind: LockKind) {}

  /**
   * Pushes a `kind` lock on the repository, waiting as `[core] lock-timeout-secs` says.
   * @throws GroveError GROVE_LOCKED when another process holds a conflicting lock past the
   *   timeout; GROVE_LOCK when the lock file cannot be opened or locked at all.
   */
  static async acquire(repo: LockTarget, kind: LockKind): Promise<RepoLock> {
    const repoPath = typeof repo === 'string' ? repo : repo.path;
    const config = typeof repo === 'string' ? readConfig(repoPath) : repo.config;
    const timeout = lockTimeout(config, repoPath);
    if (timeout === null || !objectsWritable(repoPath)) return new RepoLock(null, kind);
    const holder = Holder.for(repoPath);
    await holder.push(kind, timeout);
    return new RepoLock(holder, kind);
  }

  /**
   * Starts the repository's lock holder now, without locking anything, so that the lock taken
   * later is ready at once: python3 takes about 15 ms to start, which a command can spend on
   * other start-up work meanwhile. Failures are left for {@link acquire} to report.
   */
  static prepare(repo: LockTarget): void {
    const repoPath = typeof repo === 'string' ? repo : repo.path;
    try {
      const config = typeof repo === 'string' ? readConfig(repoPath) : repo.config;
      if (lockTimeout(config, repoPath) === null || !objectsWritable(repoPath)) return;
      Holder.for(repoPath).prepare();
    } catch {
      // acquire() meets the same problem and names it.
    }
  }

  /**
   * {@link prepare} for a long-running process (a receiving server): the holder is kept running
   * between locks, so each transaction does not pay for starting it again.
   */
  static keepReady(repo: LockTarget): void {
    const repoPath = typeof repo === 'string' ? repo : repo.path;
    Holder.for(repoPath).persistent = true;
    RepoLock.prepare(repo);
  }

  /**
   * Waits until a holder {@link prepare} started has opened (and so created) the repository's
   * `.lock`, for a caller about to remove a repository it made: afterwards nothing recreates it.
   */
  static async settle(repoPath: string): Promise<void> {
    await Holder.existing(repoPath)?.settled();
  }

  /** Runs `fn` with a `kind` lock held. */
  static async with<T>(repo: LockTarget, kind: LockKind, fn: () => Promise<T>): Promise<T> {
    const lock = await RepoLock.acquire(repo, kind);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Pops this lock; safe to call twice. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.holder?.pop(this.kind);
  }

  /**
   * A lock file as libglnx takes it, which is how ostree 2022.7 locks a sysroot (`ostree/lock`):
   * an OFD fcntl lock, taken again if the file was unlinked meanwhile, and the file unlinked by
   * an exclusive holder on release. Not the repository protocol: no counting, no config, and
   * the file goes away. One python3 child per lock.
   */
  static async acquireOfd(lockFile: string, kind: LockKind, timeoutSecs = 30): Promise<OfdLock> {
    const child = spawn(python(), ['-I', '-S', '-c', OFD_HOLDER, lockFile, kind, String(timeoutSecs)], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdout!.once('data', () => resolve());
      child.once('error', (e) => reject(new GroveError('GROVE_LOCK', `cannot run python3 to lock ${lockFile}: ${e.message}`)));
      child.once('exit', (code) => reject(new GroveError('GROVE_LOCKED', `could not take the ${kind} lock on ${lockFile} within ${timeoutSecs}s (exit ${code}) ${stderr.trim()}`)));
    });
    child.removeAllListeners('exit');
    unrefAll(child);
    return new OfdLock(child);
  }
}

/** A held libglnx-style lock file (see {@link RepoLock.acquireOfd}). */
export class OfdLock {
  constructor(private readonly child: ChildProcess) {}

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

/** How long an idle holder child (no lock held) is kept for the next lock of the same command. */
const IDLE_MS = 2000;

/**
 * `[core] lock-timeout-secs` as ostree reads it (g_ascii_strtoll: leading blanks, a sign,
 * digits, the rest ignored, 0 when there are none); null when locking is disabled.
 */
export function lockTimeout(config: KeyFile, repoPath: string): number | null {
  if (config.getBoolean('core', 'locking') === false) return null;
  const text = config.get('core', 'lock-timeout-secs');
  const m = text === undefined ? null : /^[ \t\n\v\f\r]*([+-]?[0-9]+)/.exec(text);
  const secs = text === undefined ? 30 : m ? Number(m[1]) : 0;
  if (secs === -2) return null;
  if (secs < -2) {
    throw new GroveError('GROVE_BAD_CONFIG', `${repoPath}/config: core.lock-timeout-secs ${text} is below -1`, { hint: 'use -1 (wait for ever), 0 (do not wait) or a number of seconds' });
  }
  // Past this, setitimer in the holder overflows; the wait is for ever in all but name.
  return secs > 0x7fffffff ? -1 : secs;
}

function readConfig(repoPath: string): KeyFile {
  const file = path.join(repoPath, 'config');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return new KeyFile();
    throw e;
  }
  return KeyFile.parse(text, file);
}

/** ostree locks only repositories whose `objects/` it can write (faccessat W_OK). */
function objectsWritable(repoPath: string): boolean {
  try {
    fs.accessSync(path.join(repoPath, 'objects'), fs.constants.W_OK);
    return true;
  } catch (e) {
    if (isErrno(e, 'EACCES', 'EROFS', 'EPERM')) return false;
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return true; // not a repository: opening .lock will say so
    throw e;
  }
}

let pythonPath: string | undefined;

/** Debian's own interpreter when there is one: a version manager's shim costs ~75 ms a start. */
function python(): string {
  pythonPath ??= fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  return pythonPath;
}

function unrefAll(child: ChildProcess): void {
  // A lock holder must not keep the event loop alive on its own.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
}

/** A running holder child and the replies it owes. */
interface Proc { child: ChildProcess; waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> }

/** The one open `.lock` of a repository in this process, with ostree's counters. */
class Holder {
  private static readonly all = new Map<string, Holder>();

  private proc: Proc | null = null;
  /** The holder being started, by {@link prepare} or a first command. */
  private starting: Promise<Proc> | null = null;
  private shared = 0;
  private exclusive = 0;
  /** Pushes and pops run one at a time, in order. */
  private tail: Promise<unknown> = Promise.resolve();
  private idle: NodeJS.Timeout | null = null;
  /** Kept running unlocked for as long as this process lives (a server), not IDLE_MS. */
  persistent = false;

  private constructor(readonly repoPath: string) {}

  static for(repoPath: string): Holder {
    let key: string;
    try {
      key = fs.realpathSync(repoPath);
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'ENOTDIR')) throw e;
      key = path.resolve(repoPath); // opening its .lock will say what is wrong
    }
    let h = Holder.all.get(key);
    if (!h) {
      h = new Holder(key);
      Holder.all.set(key, h);
    }
    return h;
  }

  /** The holder of `repoPath` if this process made one, without making one. */
  static existing(repoPath: string): Holder | undefined {
    try {
      return Holder.all.get(fs.realpathSync(repoPath));
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return Holder.all.get(path.resolve(repoPath));
      throw e;
    }
  }

  /** Resolves once no start of the holder process is under way. */
  async settled(): Promise<void> {
    await this.starting?.catch(() => undefined);
  }

  private get lockFile(): string {
    return path.join(this.repoPath, '.lock');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn);
    this.tail = p.catch(() => undefined);
    return p;
  }

  push(kind: LockKind, timeout: number): Promise<void> {
    return this.serial(async () => {
      const state = this.exclusive > 0 ? 'exclusive' : this.shared > 0 ? 'shared' : 'unlocked';
      if (state !== 'exclusive' && state !== kind) {
        if (state === 'shared' && this.proc === null) throw new GroveError('GROVE_LOCK', `the lock holder for ${this.lockFile} has gone: the shared lock was lost`);
        const reply = await this.command(`${kind === 'exclusive' ? 'W' : 'R'} ${timeout}`);
        if (reply === 'busy') {
          if (state === 'unlocked') this.scheduleIdle();
          const within = timeout === 0 ? 'without waiting' : `within ${timeout}s`;
          throw new GroveError('GROVE_LOCKED', `could not take the ${kind} lock on ${this.lockFile} ${within}: another process holds it`, {
            hint: 'retry once the other ostree or grove command is done, or raise [core] lock-timeout-secs',
          });
        }
      }
      if (kind === 'exclusive') this.exclusive++;
      else this.shared++;
    });
  }

  pop(kind: LockKind): Promise<void> {
    return this.serial(async () => {
      if ((kind === 'exclusive' ? this.exclusive : this.shared) === 0) throw new Error(`repository lock: pop of ${kind} with none pushed`);
      if (kind === 'exclusive') this.exclusive--;
      else this.shared--;
      // A holder that died took the lock with it: nothing is left to release.
      if (this.proc === null) return;
      if (this.exclusive + this.shared === 0) {
        await this.command('U');
        this.scheduleIdle();
      } else if (kind === 'exclusive' && this.exclusive === 0) {
        await this.command('R 0'); // a downgrade never waits
      }
    });
  }

  /** Starts the holder process unless it runs; it stays up for IDLE_MS unless a lock is taken. */
  prepare(): void {
    if (this.proc !== null || this.starting !== null) return;
    this.startOnce().then(() => this.scheduleIdleIfUnused(), () => undefined);
  }

  private startOnce(): Promise<Proc> {
    this.starting ??= this.start().finally(() => { this.starting = null; });
    return this.starting;
  }

  /** Idles a holder no command is using (prepare's, if no lock came). */
  private scheduleIdleIfUnused(): void {
    if (this.proc !== null && this.proc.waiting.length === 0 && this.exclusive + this.shared === 0) this.scheduleIdle();
  }

  private scheduleIdle(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    if (this.persistent) return;
    this.idle = setTimeout(() => {
      this.idle = null;
      // Not while a lock is held or a command awaits its reply (a lock being waited for).
      if (this.exclusive + this.shared > 0 || this.proc === null || this.proc.waiting.length > 0) return;
      this.proc.child.stdin!.end();
      this.proc = null;
    }, IDLE_MS);
    this.idle.unref();
  }

  /** Sends one command line to the holder (started on first use); resolves with its reply. */
  private async command(line: string): Promise<string> {
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = null;
    }
    const proc = this.proc ?? (await this.startOnce());
    const stdout = proc.child.stdout as unknown as { ref(): void; unref(): void };
    const reply = new Promise<string>((resolve, reject) => proc.waiting.push({ resolve, reject }));
    // Awaiting the reply keeps the process alive; an idle holder does not.
    stdout.ref();
    proc.child.stdin!.write(`${line}\n`);
    try {
      return parseReply(await reply, this.lockFile);
    } finally {
      if (proc.waiting.length === 0) stdout.unref();
    }
  }

  private start(): Promise<Proc> {
    return new Promise<Proc>((resolve, reject) => {
      const child = spawn(python(), ['-I', '-S', '-c', REPO_HOLDER, this.lockFile], { stdio: ['pipe', 'pipe', 'pipe'] });
      const proc: Proc = { child, waiting: [] };
      let buf = '';
      let stderr = '';
      let ready = false;
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const l = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (ready) {
            proc.waiting.shift()?.resolve(l);
            continue;
          }
          ready = true;
          if (l !== 'ready') {
            reject(replyError(l, this.lockFile));
            continue;
          }
          this.proc = proc;
          if (proc.waiting.length === 0) (child.stdout as unknown as { unref(): void }).unref();
          resolve(proc);
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      // Our end of a pipe to a holder that has gone must not crash the process.
      child.stdin!.on('error', () => undefined);
      child.once('error', (e) => {
        reject(new GroveError('GROVE_LOCK', `cannot run python3 to lock ${this.lockFile}: ${e.message}`, { hint: "grove needs python3 for ostree's fcntl locks" }));
      });
      child.once('exit', (code, signal) => {
        if (this.proc === proc) this.proc = null;
        const e = new GroveError('GROVE_LOCK', `the lock holder for ${this.lockFile} exited (${signal ?? code}) ${stderr.trim()}`.trim());
        if (!ready) reject(e);
        for (const w of proc.waiting.splice(0)) w.reject(e);
      });
      unrefAll(child);
      // Starting up is a wait like any other: it keeps the process alive.
      (child.stdout as unknown as { ref(): void }).ref();
    });
  }
}

function parseReply(line: string, lockFile: string): string {
  if (line === 'ok' || line === 'busy') return line;
  throw replyError(line, lockFile);
}

function replyError(line: string, lockFile: string): GroveError {
  const m = /^error (\S+) (.*)$/.exec(line);
  return new GroveError('GROVE_LOCK', m ? `cannot lock ${lockFile}: ${m[2]} (${m[1]})` : `cannot lock ${lockFile}: unexpected reply '${line}' from the lock holder`);
}

/**
 * The repository lock holder: argv lock-file. Opens it, says `ready`, then per stdin line:
 * `R T` / `W T` sets a shared / exclusive OFD lock waiting up to T seconds (-1: for ever,
 * 0: not at all), `U` unlocks; replies `ok`, `busy` (timed out, previous state kept) or
 * `error ERRNO message`. A waiting lock is F_OFD_SETLKW interrupted by SIGALRM, so it is taken
 * the moment it is free; a watcher thread polls stdin for hang-up (without reading it) and
 * ends the process, whatever the main thread is waiting on. struct flock on Linux: short
 * l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (0 for OFD locks), padded.
 */
const REPO_HOLDER = `
import errno, fcntl, os, select, signal, struct, sys, threading
def say(s):
    os.write(1, (s + '\\n').encode())
def fail(e):
    say('error %s %s' % (errno.errorcode.get(e.errno, e.errno), e.strerror))
def lk(t):
    return struct.pack('hhqqi4x', t, 0, 0, 0, 0)
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o660)
except OSError as e:
    fail(e)
    sys.exit(1)
class Timeout(Exception):
    pass
def on_alarm(signum, frame):
    raise Timeout()
signal.signal(signal.SIGALRM, on_alarm)
def watch():
    p = select.poll()
    p.register(0, 0)
    while True:
        for _, ev in p.poll():
            if ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                os._exit(0)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
threading.Thread(target=watch, daemon=True).start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
held = fcntl.F_UNLCK
say('ready')
for line in sys.stdin.buffer:
    cmd = line.split()
    if not cmd:
        continue
    want = {b'R': fcntl.F_RDLCK, b'W': fcntl.F_WRLCK, b'U': fcntl.F_UNLCK}[cmd[0]]
    timeout = float(cmd[1]) if len(cmd) > 1 else 0
    try:
        if want == fcntl.F_UNLCK or timeout == 0:
            try:
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lk(want))
            except (BlockingIOError, PermissionError):
                say('busy')
                continue
        else:
            try:
                if timeout > 0:
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, lk(want))
            except Timeout:
                # The alarm may have come just after the lock was granted: go back to what we held.
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lk(held))
                say('busy')
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except OSError as e:
        fail(e)
        continue
    held = want
    say('ok')
`;

/**
 * The libglnx lock holder: argv lock-file, kind, timeout. Polls F_OFD_SETLK (so the timeout holds),
 * retries when the file it locked was unlinked by the previous exclusive holder, prints `locked`,
 * and on end of stdin (release, or our death) unlinks the file if exclusive, as libglnx does.
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
