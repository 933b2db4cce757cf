import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { quote, run } from './measure.js';
import type { Case, Tool, Workdirs } from './cases.js';
import { cli, discard } from './workdirs.js';

/**
 * Pull over loopback: the tree committed by ostree into an archive repository, pulled by each
 * tool into a fresh bare-user repository. Served by nginx when it is installed (what serves
 * repositories in production, and a server whose own CPU use is small, so the clients are
 * what is compared) and by `grove serve`. The physical reference is curl fetching every object
 * of the repository to /dev/null with as many requests in flight: the transfer alone.
 */
export function pullCases(): Case[] {
  const servers: Array<'nginx' | 'grove serve'> = spawnSync('nginx', ['-v']).error === undefined ? ['nginx', 'grove serve'] : ['grove serve'];
  return servers.map((s) => pullCase(s));
}

const source = (w: Workdirs) => path.join(w.scratch, 'pull-source-repo');
const curlConfig = (w: Workdirs) => path.join(w.scratch, 'pull-objects.curl');

/** The source repository, made once for every server. */
function prepareSource(w: Workdirs): void {
  if (fs.existsSync(path.join(source(w), 'summary'))) return;
  const s = quote(source(w));
  run(`rm -rf ${s} && ostree init --repo=${s} --mode=archive && ostree commit --repo=${s} -b bench ${quote(w.tree)} >/dev/null && ostree summary --repo=${s} -u`);
}

function pullCase(server: 'nginx' | 'grove serve'): Case {
  let child: ChildProcess | null = null;
  let url = '';
  const dst = (t: Tool, w: Workdirs) => path.join(w.scratch, `${t.name.replace(/[^a-z0-9]+/gi, '-')}-pulled-repo`);
  return {
    name: `pull over loopback from ${server} (archive -> bare-user)`,
    mode: 'pull',
    async before(w) {
      prepareSource(w);
      ({ child, url } = server === 'nginx' ? await startNginxFor(w, source(w), 'nginx') : await startGroveServe(w));
      const objects = run(`cd ${quote(source(w))} && find objects -type f`).trim().split('\n');
      fs.writeFileSync(curlConfig(w), objects.map((o) => `url = "${url}${o}"\noutput = "/dev/null"\n`).join(''));
    },
    async after() {
      child?.kill();
    },
    setup: (t, w) => {
      if (t.kind === 'reference') return 'true';
      const d = quote(dst(t, w));
      return `${discard(dst(t, w), w)} && ${cli(t, w)} init --repo=${d} --mode=bare-user && ${cli(t, w)} remote add --repo=${d} --no-gpg-verify origin ${quote(url)}`;
    },
    command: (t, w) => {
      if (t.kind === 'reference') return t.name === 'curl -Z' ? `curl -sS -Z --parallel-max 32 -K ${quote(curlConfig(w))}` : null;
      return `${cli(t, w)} pull --repo=${quote(dst(t, w))} origin bench >/dev/null`;
    },
  };
}

async function startGroveServe(w: Workdirs): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [w.grove, 'serve', `--repo=${source(w)}`, '--port=0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const m = /at (http:\/\/\S+)/.exec(d);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`grove serve exited (${code})`)));
  });
  return { child, url };
}

/** nginx as one foreground process (no master, no workers to switch user), serving `root` (its files in scratch/`name`). */
export async function startNginxFor(w: Workdirs, root: string, name: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const dir = path.join(w.scratch, name);
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, [
    'daemon off;', 'master_process off;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;',
    `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
    `  server { listen 127.0.0.1:${port}; root ${root}; }`,
    '}',
  ].join('\n'));
  const child = spawn('nginx', ['-c', conf, '-e', path.join(dir, 'error.log')], { stdio: 'inherit' });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (await canConnect(port)) return { child, url };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`nginx did not start; see ${dir}/error.log`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}
