import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { fsyncDir } from './fsutil.js';

/**
 * Partial commits, as ostree marks them: `state/CHECKSUM.commitpartial` says the commit object
 * is present but not everything it reaches (a `--commit-metadata-only` or `--subpath` pull). A
 * full pull of the commit scans it again and removes the mark at the end; fsck does not expect
 * its tree to be complete.
 */
export function commitPartialPath(repoPath: string, checksum: string): string {
  return path.join(repoPath, 'state', `${checksum}.commitpartial`);
}

export function isCommitPartial(repoPath: string, checksum: string): boolean {
  return fsSync.existsSync(commitPartialPath(repoPath, checksum));
}

/**
 * Why a commit is partial, as ostree records it in the mark: `f` when fsck found part of it
 * missing or corrupt (`OSTREE_REPO_COMMIT_STATE_FSCK_PARTIAL`), empty for a partial pull; null
 * when it is not partial.
 */
export function commitPartialReason(repoPath: string, checksum: string): string | null {
  try {
    return fsSync.readFileSync(commitPartialPath(repoPath, checksum), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Marks a commit partial, durably, before the commit object itself becomes visible; `reason`
 * `f` is fsck's mark.
 */
export async function markCommitPartial(repoPath: string, checksum: string, reason: '' | 'f' = ''): Promise<void> {
  const p = commitPartialPath(repoPath, checksum);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, reason);
  await fsyncDir(path.dirname(p));
}

export async function clearCommitPartial(repoPath: string, checksum: string): Promise<void> {
  await fs.rm(commitPartialPath(repoPath, checksum), { force: true });
}
