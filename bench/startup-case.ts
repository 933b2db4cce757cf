import path from 'node:path';
import { quote, run } from './measure.js';
import { cli } from './workdirs.js';
import type { Case, Workdirs } from './cases.js';

/** How many times each start-up case runs its command per timed run: one run of a short command is within the noise. */
export const STARTUP_CALLS = 20;

/**
 * Start-up: what a short command costs, as scripts that call the tool once a line pay it. Each
 * tool runs the command STARTUP_CALLS times in a row on a small repository ostree made; the
 * physical reference is `node -e 0`, Node's own start, which grove can never beat (the target
 * is within 40 ms of it per call, bench/markdown.ts).
 */
export function startupCases(): Case[] {
  const repo = (w: Workdirs) => path.join(w.scratch, 'startup-repo');
  const verbs: Array<[string, (r: string) => string]> = [
    ['--version', () => '--version'],
    ['refs', (r) => `refs --repo=${quote(r)}`],
    ['rev-parse', (r) => `rev-parse --repo=${quote(r)} bench`],
  ];
  return verbs.map(([name, args], i): Case => ({
    name: `start-up: ${name} (×${STARTUP_CALLS})`,
    mode: 'startup',
    async before(w) {
      if (i > 0) return;
      const r = quote(repo(w));
      const tree = quote(path.join(w.scratch, 'startup-tree'));
      run(`rm -rf ${r} ${tree} && mkdir -p ${tree} && echo hello > ${tree}/hello && ostree init --repo=${r} --mode=archive && ostree commit --repo=${r} -b bench ${tree} >/dev/null`);
    },
    setup: () => 'true',
    command: (t, w) => {
      const one = t.kind === 'reference' ? (t.name === 'node -e 0' ? 'node -e 0' : null) : `${cli(t, w)} ${args(repo(w))}`;
      return one === null ? null : `for i in $(seq ${STARTUP_CALLS}); do ${one} >/dev/null; done`;
    },
  }));
}
