import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, needsOstree, ROOT, type RunResult } from '../helpers.js';
import { writeTree, type TreeSpec } from './fixture.js';

/**
 * A sysroot seen as booted, for the verbs that need a running ostree system (staging,
 * finalize-staged, boot-complete). In a private mount and PID namespace, a deployment directory
 * becomes the root (chroot): ostree then finds `/run/ostree-booted`, and `/` is the deployment
 * (same device and inode), as on a machine booted into it. Mounted inside it:
 * - the sysroot at /sysroot (the tree's `/ostree` links to sysroot/ostree), its /boot at /boot
 *   and the stateroot's var at /var;
 * - the host's /usr, read-only, so that ostree, node, python3 and sync run (the tree links bin,
 *   lib and lib64 into usr);
 * - `run`, a directory of the test's standing for the machine's /run: it outlives each command,
 *   as /run lasts until a reboot, and a test "reboots" by emptying it;
 * - grove's checkout at /opt, read-only, run under the name `ostree` from /tmp/bin;
 * - /proc (of the new PID namespace: ostree reads /proc/1/ns/mnt), /dev and a tmpfs /tmp.
 * The command's environment is PATH and LANG, and the test hooks INVOCATION_ID (ostree's
 * boot-complete asserts it runs under systemd) and GROVE_TEST_CRASH_AT when set.
 */

/** Why a booted sysroot cannot be made here, or false. */
export function bootedUnsupported(): string | false {
  const skip = needsOstree().skip;
  if (skip) return skip;
  if (!isRoot) return 'chroot and mounts need root';
  for (const bin of [process.execPath, '/usr/bin/ostree', '/usr/bin/python3']) {
    if (!bin.startsWith('/usr/') || !fs.existsSync(bin)) return `${bin} is not under /usr, which is all the chroot gets of the host`;
  }
  const r = spawnSync('unshare', ['-m', '-p', '-f', '--propagation', 'private', 'mount', '-t', 'tmpfs', 'none', '/mnt']);
  if (r.status !== 0) return 'unshare -m -p cannot mount here';
  return false;
}

/** What an OS tree needs to be booted this way, beside what writeTree puts in it. */
export function writeBootableTree(root: string, spec: TreeSpec): void {
  writeTree(root, spec);
  for (const d of ['sysroot', 'run', 'tmp', 'proc', 'dev', 'opt', 'var']) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (const [name, target] of [['ostree', 'sysroot/ostree'], ['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']]) {
    fs.symlinkSync(target!, path.join(root, name!));
  }
}

const ENTER = `set -e
S=$1; D=$2; RUN=$3; G=$4; OS=$5; shift 5
mount --bind /usr "$D/usr"
mount -o remount,bind,ro "$D/usr"
mount --bind "$S" "$D/sysroot"
mount --bind "$S/boot" "$D/boot"
mount --bind "$S/ostree/deploy/$OS/var" "$D/var"
mount --bind "$RUN" "$D/run"
mount -t tmpfs none "$D/tmp"
mount -t proc proc "$D/proc"
mount --rbind /dev "$D/dev"
mount --bind "$G" "$D/opt"
mount -o remount,bind,ro "$D/opt"
# Not exec: PID 1 of the namespace ignores signals without a handler, SIGKILL from inside too.
chroot "$D" /usr/bin/env -i PATH=/usr/bin:/usr/sbin LANG=C.UTF-8 \${INVOCATION_ID:+INVOCATION_ID=$INVOCATION_ID} \${GROVE_TEST_CRASH_AT:+GROVE_TEST_CRASH_AT=$GROVE_TEST_CRASH_AT} /bin/sh -c 'mkdir -p /tmp/bin && ln -s /opt/dist/src/cli/grove.cjs /tmp/bin/ostree && exec "$@"' sh "$@"`;

export interface Booted {
  /** The sysroot, as the host sees it. */
  sysroot: string;
  /** The booted deployment's directory, as the host sees it. */
  deployment: string;
  /** The machine's /run, as the host sees it. */
  run: string;
  /** The booted stateroot, whose var is mounted at /var as ostree-prepare-root mounts it. */
  osname: string;
}

/** Marks `deployment` of `sysroot` booted, with `run` as its /run (made, with /run/ostree-booted). */
export function boot(sysroot: string, deployment: string, run: string, osname = 'debian'): Booted {
  fs.mkdirSync(run, { recursive: true });
  fs.writeFileSync(path.join(run, 'ostree-booted'), '');
  return { sysroot, deployment, run, osname };
}

/** A reboot as far as /run goes: everything in it is gone but the booted flag. */
export function rebootRun(b: Booted): void {
  fs.rmSync(b.run, { recursive: true, force: true });
  boot(b.sysroot, b.deployment, b.run, b.osname);
}

const toolCommand = (tool: 'ostree' | 'grove') => (tool === 'ostree' ? ['/usr/bin/ostree'] : [process.execPath, '/tmp/bin/ostree']);

function enter(b: Booted, cmd: string[], env: Record<string, string>): RunResult {
  const r = spawnSync('unshare', ['-m', '-p', '-f', '--propagation', 'private', 'sh', '-c', ENTER, 'sh', b.sysroot, b.deployment, b.run, ROOT, b.osname, ...cmd], {
    encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `ostree ARGS` on the booted system, by the real ostree or by grove under that name. */
export function runBooted(b: Booted, tool: 'ostree' | 'grove', args: string[], env: Record<string, string> = {}): RunResult {
  return enter(b, [...toolCommand(tool), ...args], env);
}

/**
 * A shell script on the booted system, in a mount namespace of its own (what it mounts is seen
 * by the rest of the script, and by nothing after), with the tool's command as "$@".
 */
export function scriptBooted(b: Booted, tool: 'ostree' | 'grove', script: string): RunResult {
  return enter(b, ['/usr/bin/unshare', '-m', '--propagation', 'unchanged', '/bin/sh', '-c', script, 'sh', ...toolCommand(tool)], {});
}

/**
 * Everything under a machine's /run as `path mode content` lines, the content in hex (the staged
 * deployment's state is a GVariant) or, with `text`, as a JSON string; `normalise` is applied to
 * each line.
 */
export function describeRun(b: Booted, opts: { text?: boolean; normalise?: (line: string) => string } = {}): string[] {
  const normalise = opts.normalise ?? ((l: string) => l);
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      if (fs.lstatSync(p).isDirectory()) walk(p, r);
      else out.push(normalise(`${r} ${(fs.lstatSync(p).mode & 0o7777).toString(8)} ${opts.text ? JSON.stringify(fs.readFileSync(p, 'utf8')) : fs.readFileSync(p).toString('hex')}`));
    }
  };
  walk(b.run, '');
  return out;
}
