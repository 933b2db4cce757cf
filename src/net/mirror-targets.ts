import fs from 'node:fs/promises';
import path from 'node:path';
import { SUMMARY_KEY, collectionMapOf } from '../format/summary.js';
import { validateCollectionId } from '../repo/collection-refs.js';
import type { PullPolicy, PullTarget } from './pull.js';
import { writeFileAtomic } from '../repo/fsutil.js';
import type { Repo } from '../repo/repo.js';
import { LocalSource, fetchedSummary, sourceSummary, type ObjectSource } from './sources.js';

/**
 * The targets of `pull --mirror`, as ostree's mirror pull writes them: a ref found in the
 * summary of a source that declares a collection ID lands as that collection ref
 * (refs/mirrors/ID/REF, or refs/heads/REF when ID is this repository's own collection ID); with
 * no summary, or none declared, it stays refs/heads/REF. With `all` (no refs named and no
 * configured branches), the refs of the summary's collection map come too, each as its
 * collection ref. `targets` are the plain mirror targets (`to` = the ref name).
 */
export async function mirrorTargets(source: ObjectSource, targets: PullTarget[], all: boolean, policy?: PullPolicy): Promise<PullTarget[]> {
  const s = await sourceSummary(source, policy);
  if (s === null) return targets;
  const declared = s.metadata.find(([k]) => k === SUMMARY_KEY.collectionId)?.[1];
  const main = declared?.type === 's' ? validateCollectionId(declared.value as string) : null;
  const listed = new Set(s.refs.map((r) => r.name));
  // A ref missing from the summary stays a plain target, so the pull refuses it in its usual words.
  const out = targets.map((t): PullTarget => (main !== null && t.to !== null && listed.has(t.from) ? { from: t.from, to: null, collection: { id: main, ref: t.from } } : t));
  if (all) {
    for (const [id, refs] of collectionMapOf(s, `summary of ${source.description}`)) {
      validateCollectionId(id);
      for (const r of refs) out.push({ from: r.name, to: null, collection: { id, ref: r.name } });
    }
  }
  return out;
}

/**
 * After a full mirror pull (no refs named, no configured branches), the source's summary and
 * summary.sig are kept here as they came, as ostree keeps them, so the mirror can be served
 * unchanged. A file source's modification time (whole seconds) goes with them, as ostree's
 * fetcher reports it.
 */
export async function keepMirrorSummary(repo: Repo, source: ObjectSource, policy?: PullPolicy): Promise<void> {
  const s = await fetchedSummary(source, policy);
  if (s === null) return;
  const files: Array<[string, Uint8Array]> = [['summary', s.bytes], ...(s.sig !== null ? [['summary.sig', s.sig] as [string, Uint8Array]] : [])];
  for (const [name, bytes] of files) {
    const dest = path.join(repo.path, name);
    await writeFileAtomic(dest, bytes, path.join(repo.path, 'tmp'));
    if (source instanceof LocalSource) {
      const st = await fs.stat(path.join(source.repo.path, name)).catch(() => null);
      if (st !== null) await fs.utimes(dest, Math.floor(st.mtimeMs / 1000), Math.floor(st.mtimeMs / 1000));
    }
  }
}
