import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { quote, run } from './measure.js';
import type { Case, Tool, Workdirs } from './cases.js';
import { cli, discard } from './workdirs.js';

/**
 * Publishing from a builder (issue 16's cases): the tree committed into an archive builder
 * repository, pushed into an empty server repository, then a commit with 1% of the files changed
 * pushed on top. grove pushes to a `grove serve --receive` process on loopback (whose checking
 * and storing is part of the time); the reference is what ostree users do today, `rsync -a` of
 * the repository, locally (without ssh's cost: the fastest rsync can be) and, when
 * GROVE_BENCH_SSH names an ssh destination on this machine (`-p 2222 127.0.0.1`, key login),
 * over ssh as it runs between a builder and a server. ostree has no push.
 * Bytes moved are read from each tool's own count (push --json, rsync --stats) after the runs.
 */
const TOKEN = 'bench-push-token-0123456789';
const builderA = (w: Workdirs) => path.join(w.scratch, 'push-builder-a');
const builderB = (w: Workdirs) => path.join(w.scratch, 'push-builder-b');
const server = (w: Workdirs) => path.join(w.scratch, 'push-server');
const serverWithA = (w: Workdirs) => path.join(w.scratch, 'push-server-a');
const rsyncDest = (w: Workdirs) => path.join(w.scratch, 'push-rsync-dest');
/** ssh arguments to reach this machine (`-p PORT HOST`), for the rsync-over-ssh reference; none: that reference is skipped. */
const SSH = process.env['GROVE_BENCH_SSH'];
const sshTarget = (): { opts: string; host: string } => {
  const parts = SSH!.trim().split(/\s+/);
  return { opts: parts.slice(0, -1).join(' '), host: parts.at(-1)! };
};
const stats = (t: Tool, w: Workdirs, c: string) => path.join(w.scratch, `push-stats-${c}-${t.name.replace(/[^a-z0-9]+/gi, '-')}`);

function prepare(w: Workdirs): void {
  if (fs.existsSync(serverWithA(w))) return;
  const a = quote(builderA(w));
  const b = quote(builderB(w));
  const tree2 = path.join(w.scratch, 'push-tree-b');
  run(`rm -rf ${a} ${b} ${quote(tree2)} && ostree init --repo=${a} --mode=archive && ostree commit --repo=${a} -b bench ${quote(w.tree)} >/dev/null`);
  run(`cp -a ${a} ${b} && cp -a ${quote(w.tree)} ${quote(tree2)}`);
  let n = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && n++ % 100 === 0) fs.appendFileSync(p, 'grove');
    }
  };
  walk(tree2);
  // On top of the first commit, as a builder commits its next build.
  run(`ostree commit --repo=${b} -b bench ${quote(tree2)} >/dev/null`);
  fs.writeFileSync(path.join(w.scratch, 'push-tokens'), `${TOKEN} *\n`);
}

function pushCase(kind: 'empty' | 'update'): Case {
  let child: ChildProcess | null = null;
  let url = '';
  const from = (w: Workdirs) => (kind === 'empty' ? builderA(w) : builderB(w));
  return {
    name: kind === 'empty' ? 'push the tree into an empty server' : 'push a 1% change',
    mode: 'push',
    async before(w) {
      prepare(w);
      run(`rm -rf ${quote(server(w))} && ostree init --repo=${quote(server(w))} --mode=archive`);
      ({ child, url } = await startReceiver(w));
      if (!fs.existsSync(serverWithA(w))) {
        run(`node ${quote(w.grove)} push --repo=${quote(builderA(w))} --token=${TOKEN} ${quote(url)} >/dev/null && cp -a ${quote(server(w))} ${quote(serverWithA(w))}`);
      }
    },
    async after(w) {
      child?.kill();
      const line = (t: string, f: string) => (fs.existsSync(f) ? `${t} ${bytesOf(f)}` : null);
      const lines = w.tools.map((t) => line(t.name, stats(t, w, kind))).filter((x) => x !== null);
      console.log(`  bytes moved (${kind === 'empty' ? 'whole tree' : '1% change'}): ${lines.join('; ')}`);
    },
    setup: (t, w) => {
      if (t.kind === 'reference') {
        if (t.name !== 'rsync -a' && t.name !== 'rsync -a over ssh') return 'true';
        return `${discard(rsyncDest(w), w)}${kind === 'update' ? ` && cp -a ${quote(builderA(w))} ${quote(rsyncDest(w))}` : ''}`;
      }
      // The server process keeps running; its repository is replaced under it while it is idle.
      const s = quote(server(w));
      return `${discard(server(w), w)} && ${kind === 'empty' ? `ostree init --repo=${s} --mode=archive` : `cp -a ${quote(serverWithA(w))} ${s}`}`;
    },
    command: (t, w) => {
      if (t.kind === 'reference') {
        if (t.name === 'rsync -a') return `rsync -a --stats ${quote(`${from(w)}/`)} ${quote(`${rsyncDest(w)}/`)} > ${quote(stats(t, w, kind))}`;
        if (t.name === 'rsync -a over ssh' && SSH) {
          const { opts, host } = sshTarget();
          return `rsync -a --stats -e ${quote(`ssh -o BatchMode=yes ${opts}`)} ${quote(`${from(w)}/`)} ${quote(`${host}:${rsyncDest(w)}/`)} > ${quote(stats(t, w, kind))}`;
        }
        return null;
      }
      if (t.kind === 'ostree') return null;
      return `${cli(t, w)} push --repo=${quote(from(w))} --token=${TOKEN} --json ${quote(url)} bench > ${quote(stats(t, w, kind))}`;
    },
  };
}

/** Bytes a run moved: `bytesSent` of push --json, or rsync's "Total bytes sent". */
function bytesOf(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const m = /Total bytes sent: ([\d,.]+)/.exec(text);
  const n = m ? Number(m[1]!.replace(/[,.]/g, '')) : (JSON.parse(text) as { bytesSent: number }).bytesSent;
  return `${(n / 1e6).toFixed(2)} MB`;
}

async function startReceiver(w: Workdirs): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [w.grove, 'serve', `--repo=${server(w)}`, '--port=0', `--receive=${path.join(w.scratch, 'push-tokens')}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const m = /at (http:\/\/\S+)/.exec(d);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`grove serve --receive exited (${code})`)));
  });
  return { child, url };
}

export function pushCases(): Case[] {
  return [pushCase('empty'), pushCase('update')];
}
