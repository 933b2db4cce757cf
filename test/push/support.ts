import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { serveRepo, type RepoServer } from '../../src/net/serve.js';
import { TokenTable } from '../../src/push/tokens.js';
import { Repo } from '../../src/repo/repo.js';
import type { SignWith } from '../../src/sign/signatures.js';
import { traverse } from '../../src/store/traverse.js';
import { objectPath, objectExists } from '../../src/store/paths.js';
import { parseObjectName } from '../../src/push/protocol.js';
import { GROVE_BIN } from '../helpers.js';
import { groveAsync } from '../interop/support.js';

/** Tokens the tests' servers accept: one for os/x86_64/*, one for everything. */
export const X86_TOKEN = 'x86-builder-token-0123456789';
export const ALL_TOKEN = 'all-refs-token-0123456789abc';
export const TOKENS = `# test builders\n${X86_TOKEN} os/x86_64/*\n\n${ALL_TOKEN} *\n`;

/** An archive server repository in `dir`, receiving pushes in this process. */
export async function startReceiver(dir: string, opts: { idleMs?: number; repo?: string; sign?: SignWith; deltas?: boolean } = {}): Promise<{ srv: RepoServer; repo: string; url: string }> {
  const repo = opts.repo ?? path.join(dir, 'server');
  if (!fs.existsSync(repo)) await Repo.init(repo, { mode: 'archive' });
  const srv = await serveRepo(repo, { receive: { tokens: TokenTable.parse(TOKENS, 'tokens'), fsync: false, ...(opts.idleMs !== undefined && { idleMs: opts.idleMs }), ...(opts.sign && { sign: opts.sign }), ...(opts.deltas && { deltas: true }) } });
  return { srv, repo, url: srv.url };
}

/** A builder repository of `mode` with `entries` committed on `ref`; returns the commit. */
export async function builderCommit(repo: string, mode: string, ref: string, tree: string, entries: Entry[], extra: string[] = []): Promise<string> {
  if (!fs.existsSync(repo)) await Repo.init(repo, { mode });
  fs.rmSync(tree, { recursive: true, force: true });
  await buildTree(tree, entries);
  return (await groveAsync(['commit', `--repo=${repo}`, '-b', ref, `--tree=dir=${tree}`, '-s', ref, ...extra])).trim();
}

/** A small rootfs-like tree; `variant` changes one file, `big` adds a file larger than a push sends whole. */
export function smallTree(variant = 0, opts: { big?: boolean; files?: number } = {}): Entry[] {
  const entries: Entry[] = [
    { path: 'usr/bin/tool', type: 'file', content: 'tool binary\n'.repeat(500), mode: 0o755 },
    { path: 'usr/lib/libx.so.1', type: 'file', content: 'lib'.repeat(3000) },
    { path: 'usr/lib/libx.so', type: 'symlink', target: 'libx.so.1' },
    { path: 'etc/os-release', type: 'file', content: `VERSION=${variant}\n` },
    { path: 'var/empty', type: 'dir', mode: 0o700 },
  ];
  for (let i = 0; i < (opts.files ?? 20); i++) entries.push({ path: `usr/share/doc/f${i}`, type: 'file', content: `doc ${i} `.repeat(200 + i) });
  if (opts.big) entries.push({ path: 'usr/lib/big.bin', type: 'file', content: pseudoRandom(6 << 20, 7) });
  return entries;
}

/** Incompressible bytes, the same for the same seed. */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * The objects `commit` of `builder` reaches that `server` lacks, with the bytes they take on the
 * wire (an archive builder's files as they are): what a push must send, no more.
 */
export async function lackingOnServer(builder: string, server: string, commit: string): Promise<{ count: number; bytes: number }> {
  const b = await Repo.open(builder);
  const s = await Repo.open(server);
  let count = 0;
  let bytes = 0;
  const keys = [...(await traverse(b, [commit]))];
  if (objectExists(b.objectsDir, commit, 'commitmeta', b.mode)) keys.push(`${commit}.commitmeta`);
  for (const key of keys) {
    const o = parseObjectName(key)!;
    if (objectExists(s.objectsDir, o.checksum, o.type, s.mode)) continue;
    count++;
    bytes += fs.statSync(objectPath(b.objectsDir, o.checksum, o.type, b.mode)).size;
  }
  return { count, bytes };
}

/** `grove serve --receive` as a process of its own, on any free port; resolves once it listens. */
export async function startServerProcess(repo: string, tokensFile: string, extra: string[] = []): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [GROVE_BIN, 'serve', `--repo=${repo}`, '--port=0', `--receive=${tokensFile}`, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = / at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.once('exit', (code) => reject(new Error(`grove serve exited ${code}: ${err}`)));
  });
  return {
    url, child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
