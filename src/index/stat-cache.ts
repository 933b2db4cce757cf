import type { BigIntStats } from 'node:fs';
import type { RepoIndex } from './index.js';

/**
 * The stat cache's rules. A cached checksum is used only when everything the checksum depends on
 * is provably unchanged: the same inode with the same size, mtime and ctime (ctime moves on any
 * write, chmod, chown or xattr change, and cannot be set back by `touch -d`), and the same
 * recorded owner, mode and xattr policy after commit filters. Files changed within
 * {@link RACY_WINDOW_NS} of the commit's start are never cached: timestamps have coarse ticks,
 * and a write in the same tick as our read would otherwise look unchanged.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;

export function statKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

/** The signature a cached entry must match; `recorded` is "uid:gid:mode:xattrs?" after filters. */
export function statSig(st: BigIntStats, recorded: string): string {
  return `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}:${st.uid}:${st.gid}|${recorded}`;
}

/** True when the file changed too recently for its stat to prove anything later. */
export function isRacy(st: BigIntStats, commitStartNs: bigint): boolean {
  const newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
  return newest + RACY_WINDOW_NS >= commitStartNs;
}

export function lookup(index: RepoIndex, st: BigIntStats, recorded: string): string | null {
  const e = index.stat.get(statKey(st));
  return e !== undefined && e.sig === statSig(st, recorded) ? e.checksum : null;
}

export function record(index: RepoIndex, st: BigIntStats, recorded: string, checksum: string, commitStartNs: bigint): void {
  if (isRacy(st, commitStartNs)) return;
  void index.stat.put(statKey(st), { sig: statSig(st, recorded), checksum });
}
