import type { BigIntStats } from 'node:fs';
import type { RepoIndex } from './index.js';
import type { DeviceIdentities } from './fs-identity.js';

/**
 * The stat cache's rules. A cached checksum is used only when everything the checksum depends on
 * is provably unchanged: the same inode with the same size, mtime and ctime (ctime moves on any
 * write, chmod, chown or xattr change, and cannot be set back by `touch -d`), and the same
 * recorded owner, mode and xattr policy after commit filters. Files changed within
 * {@link RACY_WINDOW_NS} of the commit's start are never cached: timestamps have coarse ticks,
 * and a write in the same tick as our read would otherwise look unchanged. And the same file
 * system instance: a device number is reused by the next image mounted on it, inode numbers and
 * times included (see fs-identity.ts); a device whose instance cannot be told is not cached.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;

export function statKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * The signature a cached entry must match; `recorded` is "uid:gid:mode:xattrs?" after filters,
 * `fsTag` the file system instance's. The instance is in the signature rather than the key, so
 * that the next image mounted on a device replaces its entries instead of adding to them.
 */
export function statSig(st: BigIntStats, recorded: string, fsTag: string): string {
  return `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}:${st.uid}:${st.gid}|${recorded}|${fsTag}`;
}

/** True when the file changed too recently for its stat to prove anything later. */
export function isRacy(st: BigIntStats, commitStartNs: bigint): boolean {
  const newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
  return newest + RACY_WINDOW_NS >= commitStartNs;
}

/**
 * What the stat cache needs of one file, taken from its stat at walk time so that the stat
 * itself need not be kept (a tree of 100,000 files held 100,000 BigIntStats objects until the
 * commit ended): the key, the signature, and whether the file is too young to be recorded.
 */
export interface StatProbe { key: string | null; sig: string; racy: boolean }

/**
 * `devices` is the commit's own (a file system identity holds for one commit); a file on a
 * device without one gets a probe that neither finds nor records anything.
 */
export function probe(st: BigIntStats, recorded: string, commitStartNs: bigint, devices: DeviceIdentities): StatProbe {
  const tag = devices.of(st.dev);
  if (tag === null) return { key: null, sig: '', racy: true };
  return { key: statKey(st), sig: statSig(st, recorded, tag), racy: isRacy(st, commitStartNs) };
}

/** The cached checksum, or null; throws the index's failed write, so a commit stops at it. */
export function lookup(index: RepoIndex, p: StatProbe): string | null {
  if (index.failure) throw index.failure;
  if (p.key === null) return null;
  const e = index.stat.get(p.key);
  return e !== undefined && e.sig === p.sig ? e.checksum : null;
}

export function record(index: RepoIndex, p: StatProbe, checksum: string): void {
  if (p.racy || p.key === null) return;
  index.put(index.stat, p.key, { sig: p.sig, checksum });
}
