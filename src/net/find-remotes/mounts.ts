import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The mounted volumes ostree's mount finder looks at: those GLib 2.74's volume monitor (the
 * native one; Debian's ostree has no gvfs to ask) shows a user. GLib reads
 * /proc/self/mountinfo through libmount and keeps a mount unless it is system internal (a
 * system file system type such as tmpfs or overlay, a system device such as `none`, a system
 * directory such as `/media` itself, or a bind mount of a subdirectory), and only when it is
 * below `/media/`, `/run/media/` (`/run/media/$USER/` for others than root) or the home
 * directory, and not below a directory whose name starts with a dot.
 */

export interface MountEntry { mountPath: string; root: string; fsType: string; device: string }

const SYSTEM_FS = new Set(['adfs', 'afs', 'auto', 'autofs', 'autofs4', 'cgroup', 'configfs', 'cxfs', 'debugfs', 'devfs', 'devpts',
  'devtmpfs', 'ecryptfs', 'fdescfs', 'fusectl', 'gfs', 'gfs2', 'gpfs', 'hugetlbfs', 'kernfs', 'linprocfs', 'linsysfs', 'lustre',
  'lustre_lite', 'mfs', 'mqueue', 'ncpfs', 'nfsd', 'nullfs', 'ocfs2', 'overlay', 'proc', 'procfs', 'pstore', 'ptyfs', 'rootfs',
  'rpc_pipefs', 'securityfs', 'selinuxfs', 'sysfs', 'tmpfs', 'usbfs']);
const SYSTEM_DEVICES = new Set(['none', 'sunrpc', 'devpts', 'nfsd', '/dev/loop', '/dev/vn']);
const SYSTEM_PATHS = new Set(['/', '/bin', '/boot', '/compat/linux/proc', '/compat/linux/sys', '/dev', '/etc', '/home', '/lib',
  '/lib64', '/libexec', '/live/cow', '/live/image', '/media', '/mnt', '/opt', '/rescue', '/root', '/sbin', '/srv', '/tmp', '/usr',
  '/usr/X11R6', '/usr/local', '/usr/obj', '/usr/ports', '/usr/src', '/usr/xobj', '/var', '/var/crash', '/var/local', '/var/log',
  '/var/log/audit', '/var/mail', '/var/run', '/var/tmp', '/proc', '/net', '/sys']);

/** mountinfo escapes space, tab, newline and backslash as `\ooo`. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The entries of a mountinfo file (proc(5)): root is field 4, the mount point field 5, then after `-` the type and source. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0 || dash + 2 >= f.length) continue;
    out.push({ root: unescape(f[3]!), mountPath: unescape(f[4]!), fsType: f[dash + 1]!, device: unescape(f[dash + 2]!) });
  }
  return out;
}

function systemInternal(m: MountEntry): boolean {
  if (SYSTEM_FS.has(m.fsType) || SYSTEM_DEVICES.has(m.device) || SYSTEM_PATHS.has(m.mountPath)) return true;
  if (/^\/(dev|proc|sys)\//.test(m.mountPath) || m.mountPath.endsWith('/.gvfs')) return true;
  return m.root !== '/';
}

const accessible = (p: string): boolean => {
  try {
    fs.accessSync(p, fs.constants.R_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** g_unix_mount_guess_should_display. */
export function userVisible(m: MountEntry, uid = process.getuid?.() ?? 0, user = os.userInfo().username, home = os.homedir()): boolean {
  if (systemInternal(m)) return false;
  const p = m.mountPath;
  if (p.includes('/.')) return false;
  const inRuntime = uid === 0 ? p.startsWith('/run/media/') : p.startsWith(`/run/media/${user}/`);
  if (inRuntime || p.startsWith('/media/')) {
    const parent = path.dirname(p);
    if (parent.startsWith('/media/') && !accessible(parent)) return false;
    if (m.device.startsWith('/')) {
      const st = fs.statSync(m.device, { throwIfNoEntry: false });
      if (st?.isBlockDevice() === true && !accessible(p)) return false;
    }
    return true;
  }
  return p.startsWith(home) && p[home.length] === '/';
}

/** The mount points of the user-visible mounts, in the order mountinfo lists them. */
export function userMounts(mountinfo = '/proc/self/mountinfo'): string[] {
  let text: string;
  try {
    text = fs.readFileSync(mountinfo, 'utf8');
  } catch {
    // GLib lists no mounts when it cannot read the table.
    return [];
  }
  return parseMountinfo(text).filter((m) => userVisible(m)).map((m) => m.mountPath);
}
