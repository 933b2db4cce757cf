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

/**
 * What the stat cache needs of one file, taken from its stat at walk time so that the stat
 * itself need not be kept (a tree of 100,000 files held 100,000 BigIntStats objects until the
 * commit ended): the key, the signature, and whether the file is too young to be recorded.
 */
export interface StatProbe { key: string; sig: string; racy: boolean }

export function probe(st: BigIntStats, recorded: string, commitStartNs: bigint): StatProbe {
  return { key: statKey(st), sig: statSig(st, recorded), racy: isRacy(st, commitStartNs) };
}

export function lookup(index: RepoIndex, p: StatProbe): string | null {
  const e = index.stat.get(p.key);
  return e !== undefined && e.sig === p.sig ? e.checksum : null;
}

export function record(index: RepoIndex, p: StatProbe, checksum: string): void {
  if (p.racy) return;
  void index.stat.put(p.key, { sig: p.sig, checksum });
}
