import fs from 'node:fs/promises';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { SUMMARY_KEY } from '../format/summary.js';
import type { Repo } from '../repo/repo.js';
import { resolveTargets, type PullTarget } from './pull.js';
import { LocalSource, sourceSummary } from './sources.js';

/** True when `dir` exists and holds something. */
async function nonEmpty(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length > 0;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return false;
    throw e;
  }
}

/**
 * `--require-static-deltas` on a pull from a repository on this machine. grove cannot apply
 * static deltas, so this always fails; how depends on what ostree would do. ostree refuses
 * deltas into an archive repository; it looks for deltas in the source's summary (and, without
 * one, fails at once, whether the source exists or not); with a summary it resolves the refs,
 * then fails on the first that has no delta. Those failures are ostree's words. A source that
 * does offer deltas would succeed in ostree: grove says it cannot apply them.
 */
export async function refuseRequiredStaticDeltas(repo: Repo, sourcePath: string, targets: PullTarget[]): Promise<never> {
  if (repo.mode === 'archive') throw new GroveError('GROVE_BAD_OPTION', "Can't use static deltas in an archive repo");
  const cannot = new GroveError('GROVE_UNSUPPORTED', `--require-static-deltas: ${sourcePath} has static deltas, which grove cannot apply`);
  let summaryFile = true;
  await fs.access(path.join(sourcePath, 'summary')).catch(() => { summaryFile = false; });
  if (!summaryFile) {
    if (await nonEmpty(path.join(sourcePath, 'delta-indexes'))) throw cannot;
    throw new GroveError('GROVE_NO_DELTAS', 'Fetch configured to require static deltas, but no summary deltas or delta index found');
  }
  const source = await LocalSource.open(sourcePath);
  const summary = await sourceSummary(source);
  const deltas = summary?.metadata.find(([k]) => k === SUMMARY_KEY.staticDeltas)?.[1];
  if (deltas !== undefined && Array.isArray(deltas.value) && deltas.value.length > 0) throw cannot;
  const resolved = await resolveTargets(source, targets);
  const first = targets[0];
  if (first === undefined) throw cannot;
  const ref = /^[0-9a-f]{64}$/.test(first.from) ? '' : first.from;
  throw new GroveError('GROVE_NO_DELTAS', `Static deltas required, but none found for ${ref} to ${resolved[0]!.checksum}`);
}
