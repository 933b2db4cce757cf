import fs from 'node:fs';
import path from 'node:path';
import { quote, run } from './measure.js';
import type { Case, Tool, Workdirs } from './cases.js';
import { startNginxFor } from './pull-case.js';
import { cli, discard } from './workdirs.js';

/**
 * Static deltas (issue 15's cases): generating a delta of the tree from scratch and one between
 * two commits that differ in 1% of the files (a few bytes changed in each), and pulling through
 * the deltas ostree made from nginx: the whole tree into an empty bare-user repository, and the
 * update from the first commit to the second. Every tool works on the same source repository
 * (made by ostree); generated deltas go to scratch with `--filename`.
 */
const source = (w: Workdirs) => path.join(w.scratch, 'delta-source-repo');
const out = (t: Tool, w: Workdirs) => path.join(w.scratch, `${t.name.replace(/[^a-z0-9]+/gi, '-')}-delta-out`);
const dst = (t: Tool, w: Workdirs) => path.join(w.scratch, `${t.name.replace(/[^a-z0-9]+/gi, '-')}-delta-pulled`);
const base = (w: Workdirs) => path.join(w.scratch, 'delta-base-repo');
const commits = { a: '', b: '' };

function prepare(w: Workdirs): void {
  const s = quote(source(w));
  if (commits.a !== '' && fs.existsSync(source(w))) return;
  const tree2 = path.join(w.scratch, 'delta-tree-b');
  run(`rm -rf ${s} ${quote(tree2)} ${quote(base(w))} && ostree init --repo=${s} --mode=archive`);
  commits.a = run(`ostree commit --repo=${s} -b bench ${quote(w.tree)}`).trim();
  run(`cp -a ${quote(w.tree)} ${quote(tree2)}`);
  let n = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && n++ % 100 === 0) {
        const st = fs.statSync(p);
        if (st.size === 0) continue;
        const fd = fs.openSync(p, 'r+');
        fs.writeSync(fd, Buffer.from('grove'), 0, Math.min(5, st.size), Math.floor(st.size / 2));
        fs.closeSync(fd);
      }
    }
  };
  walk(tree2);
  commits.b = run(`ostree commit --repo=${s} -b bench ${quote(tree2)}`).trim();
  run(`ostree static-delta generate --repo=${s} --empty --to=${commits.a} >/dev/null 2>&1 && ostree static-delta generate --repo=${s} --from=${commits.a} --to=${commits.b} >/dev/null 2>&1 && ostree summary --repo=${s} -u`);
  // What an updating client has before it pulls the update: the first commit, in bare-user.
  run(`ostree init --repo=${quote(base(w))} --mode=bare-user && ostree pull-local --repo=${quote(base(w))} ${s} ${commits.a} >/dev/null`);
}

function generateCase(from: 'empty' | 'a'): Case {
  return {
    name: from === 'empty' ? 'static-delta generate --empty' : 'static-delta generate --from (1% of files changed)',
    mode: 'deltas',
    async before(w) { prepare(w); },
    setup: (t, w) => (t.kind === 'reference' ? 'true' : `${discard(out(t, w), w)} && mkdir -p ${quote(out(t, w))}`),
    command: (t, w) => {
      if (t.kind === 'reference') return null;
      const range = from === 'empty' ? `--empty --to=${commits.a}` : `--from=${commits.a} --to=${commits.b}`;
      return `${cli(t, w)} static-delta generate --repo=${quote(source(w))} ${range} --filename=${quote(path.join(out(t, w), 'superblock'))} >/dev/null 2>&1`;
    },
  };
}

function pullCase(kind: 'scratch' | 'update'): Case {
  let stop: (() => void) | null = null;
  let url = '';
  return {
    name: kind === 'scratch' ? 'pull through a --empty delta from nginx' : 'pull the 1% update through a delta from nginx',
    mode: 'deltas',
    async before(w) {
      prepare(w);
      const nginx = await startNginxFor(w, source(w), 'nginx-deltas');
      url = nginx.url;
      stop = () => nginx.child.kill();
    },
    async after() { stop?.(); },
    setup: (t, w) => {
      if (t.kind === 'reference') return 'true';
      const d = quote(dst(t, w));
      const fresh = kind === 'scratch' ? `${cli(t, w)} init --repo=${d} --mode=bare-user` : `cp -a ${quote(base(w))} ${d}`;
      return `${discard(dst(t, w), w)} && ${fresh} && ${cli(t, w)} remote add --repo=${d} --no-gpg-verify origin ${quote(url)}`;
    },
    command: (t, w) => {
      if (t.kind === 'reference') return null;
      const rev = kind === 'scratch' ? commits.a : commits.b;
      return `${cli(t, w)} pull --repo=${quote(dst(t, w))} --require-static-deltas origin ${rev} >/dev/null`;
    },
  };
}

export function deltaCases(): Case[] {
  return [generateCase('empty'), generateCase('a'), pullCase('scratch'), pullCase('update')];
}
