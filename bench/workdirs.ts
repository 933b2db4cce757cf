import path from 'node:path';
import { quote } from './measure.js';
import type { Tool, Workdirs } from './cases.js';

/** The command line of a tool under test. */
export const cli = (tool: Tool, w: Workdirs) => (tool.kind === 'ostree' ? 'ostree' : `node ${quote(tool.bin ?? w.grove)}`);

/** Where outputs of earlier runs wait to be deleted at the end of the benchmark. */
export const trashDir = (w: Workdirs) => path.join(w.scratch, '.trash');

/**
 * Shell to move the output of an earlier run out of the way; run.ts deletes the lot at the end.
 * Not `rm -rf`: on ext4 the files created in the seconds after thousands were deleted took
 * several times longer to create (5.5k creates: 0.15 s, or 4.5 s just after an rm -rf), which
 * slowed whichever tool ran next and drew every ratio towards 1.
 */
export function discard(p: string, w: Workdirs): string {
  const trash = trashDir(w);
  return `{ [ ! -e ${quote(p)} ] || { mkdir -p ${quote(trash)} && mv ${quote(p)} ${quote(trash)}/$(date +%s%N)-$RANDOM; }; }`;
}
