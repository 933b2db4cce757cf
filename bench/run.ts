import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateTree } from '../fixtures/trees/generate.js';
import { BENCH_MODES, buildCases, type BenchMode, type Tool, type Workdirs } from './cases.js';
import { haveGnuTime, measure, median, run, type Sample } from './measure.js';
import { printTable, type Row } from './report.js';
import { trashDir } from './workdirs.js';

/**
 * `npm run bench -- [--tree PATH] [--files N] [--modes startup,archive,bare-user,pull,deploy,deltas,push] [--runs N] [--json FILE]
 *   [--scratch DIR] [--compare NAME=PATH/dist/src/cli/grove.cjs]… [--threads N,M…] [--tools NAME,NAME…]`
 *
 * `--tools` keeps only the named tools (ostree, grove, `grove libdeflate`, `cp -al`, …; the
 * report names them all): a run on a large tree need not time every backend.
 *
 * `--threads` adds, for each N, grove (node:crypto, node:zlib) run with GROVE_THREADS=N as a
 * tool of its own, `grove N thread(s)`: the thread-scaling table. GROVE_THREADS counts the
 * threads that hash, compress and place files, the main thread among them where it takes such
 * work (checkout, fsck, deploy).
 *
 * `--compare` adds another build of grove (say, the previous commit's) as a tool of its own, run
 * in the same rounds, so that a change is measured against what it replaces under the same noise.
 *
 * Times the real ostree, grove with each backend, and the physical references on the same tree
 * in one run, alternating tools within each round so that machine noise hits all alike. Reports
 * medians, the ratio to ostree, and peak RSS.
 */
interface Args { tree?: string; files: number; modes: BenchMode[]; runs: number; json?: string; scratch?: string; compare: Array<[string, string]>; threads: number[]; tools?: string[] }

function parseArgs(argv: string[]): Args {
  const a: Args = { files: 6000, modes: [...BENCH_MODES], runs: 3, compare: [], threads: [] };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const v = () => inline ?? argv[++i] ?? '';
    if (k === '--tree') a.tree = v();
    else if (k === '--files') a.files = Number(v());
    else if (k === '--modes') a.modes = v().split(',') as BenchMode[];
    else if (k === '--runs') a.runs = Number(v());
    else if (k === '--json') a.json = v();
    else if (k === '--scratch') a.scratch = v();
    else if (k === '--tools') a.tools = v().split(',');
    else if (k === '--threads') {
      a.threads = v().split(',').map(Number);
      if (a.threads.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--threads takes positive integers, comma-separated');
    }
    else if (k === '--compare') {
      const [name, bin] = v().split(/=(.*)/s) as [string, string | undefined];
      if (!name || !bin) throw new Error('--compare takes NAME=PATH (a built grove CLI, dist/src/cli/grove.cjs)');
      a.compare.push([name, bin]);
    }
    else throw new Error(`unknown option ${k}; see bench/run.ts`);
  }
  for (const m of a.modes) if (!BENCH_MODES.includes(m)) throw new Error(`--modes: unknown mode ${m} (${BENCH_MODES.join(', ')})`);
  if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error('--runs must be a positive integer');
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const scratch = args.scratch ?? await fs.mkdtemp(path.join(os.tmpdir(), 'grove-bench-'));
  await fs.mkdir(scratch, { recursive: true });
  const groveBin = fileURLToPath(new URL('../src/cli/grove.cjs', import.meta.url));
  let tree = args.tree;
  if (!tree) {
    // Benchmarks modify the tree (the 1% case), so a generated one lives in scratch.
    tree = path.join(scratch, 'tree');
    const g = await generateTree(tree, { files: args.files, seed: 7 });
    console.log(`generated ${g.files} files, ${(g.bytes / 1e6).toFixed(0)} MB in ${tree}`);
  } else {
    const copy = path.join(scratch, 'tree');
    run(`cp -a ${JSON.stringify(tree)} ${JSON.stringify(copy)}`);
    tree = copy;
  }
  const haveOstree = spawnSync('ostree', ['--version']).status === 0;
  const all: Tool[] = [
    ...(haveOstree ? [{ name: 'ostree', kind: 'ostree' as const }] : []),
    { name: 'grove', kind: 'grove', env: { GROVE_HASH: 'node', GROVE_COMPRESS: 'node' } },
    { name: 'grove libdeflate', kind: 'grove', env: { GROVE_HASH: 'node', GROVE_COMPRESS: 'libdeflate' } },
    { name: 'grove wasm+fflate', kind: 'grove', env: { GROVE_HASH: 'wasm', GROVE_COMPRESS: 'fflate' } },
    ...args.compare.map(([name, bin]): Tool => ({ name, kind: 'grove', bin: path.resolve(bin), env: { GROVE_HASH: 'node', GROVE_COMPRESS: 'node' } })),
    ...args.threads.map((n): Tool => ({ name: `grove ${n} thread${n === 1 ? '' : 's'}`, kind: 'grove', env: { GROVE_HASH: 'node', GROVE_COMPRESS: 'node', GROVE_THREADS: String(n) } })),
    { name: 'node -e 0', kind: 'reference' },
    { name: 'cp -a', kind: 'reference' },
    { name: 'cp -al', kind: 'reference' },
    { name: 'tar|gzip -6', kind: 'reference' },
    { name: 'sha256sum', kind: 'reference' },
    { name: 'curl -Z', kind: 'reference' },
    { name: 'rsync -a', kind: 'reference' },
    { name: 'rsync -a over ssh', kind: 'reference' },
  ];
  const unknown = (args.tools ?? []).filter((n) => !all.some((t) => t.name === n));
  if (unknown.length > 0) throw new Error(`--tools: no tool named ${unknown.join(', ')} (${all.map((t) => t.name).join(', ')})`);
  const tools = args.tools ? all.filter((t) => args.tools!.includes(t.name)) : all;
  const w: Workdirs = { tree, scratch, grove: groveBin, tools };
  const facts = machineFacts();
  console.log(`${facts}; ${args.runs} run(s) each, medians; warm page cache, sync before each run${haveGnuTime() ? '' : '; no GNU time, so no RSS'}`);
  // What the second grove column really runs: fflate's streaming Deflate is broken, so files
  // over 4 MiB are deflated by node:zlib with every backend (src/format/compress.ts).
  console.log('grove: node:crypto SHA-256; node:zlib for everything');
  console.log('grove libdeflate: node:crypto SHA-256; libdeflate (WebAssembly) for whole objects up to 4 MiB, node:zlib streams beyond');
  console.log('grove wasm+fflate: hash-wasm SHA-256; fflate for whole-object deflate and all inflate; node:zlib for streamed deflate of files over 4 MiB\n');

  const rows: Row[] = [];
  for (const c of buildCases(args.modes)) {
    const samples = new Map<string, Sample[]>();
    await c.before?.(w);
    try {
      for (let r = 0; r < args.runs; r++) {
        for (const t of tools) {
          const cmd = c.command(t, w);
          if (cmd === null) continue;
          const s = measure(cmd, { setup: c.setup(t, w), ...(t.env && { env: t.env }) });
          samples.set(t.name, [...(samples.get(t.name) ?? []), s]);
        }
      }
    } finally {
      await c.after?.(w);
    }
    const base = samples.get('ostree');
    const baseMedian = base ? median(base.map((s) => s.seconds)) : null;
    for (const [tool, ss] of samples) {
      const sec = median(ss.map((s) => s.seconds));
      const rss = ss.map((s) => s.maxRssKiB).filter((x): x is number => x !== null);
      rows.push({
        case: c.name,
        tool,
        seconds: sec,
        runs: ss.map((s) => s.seconds),
        speedupVsOstree: baseMedian !== null ? baseMedian / sec : null,
        peakRssMiB: rss.length ? Math.max(...rss) / 1024 : null,
      });
    }
    printTable(rows.filter((r) => r.case === c.name));
  }
  if (args.json) {
    await fs.writeFile(args.json, JSON.stringify({ machine: facts, date: new Date().toISOString(), runs: args.runs, tree: args.tree ?? `generated ${args.files} files`, rows }, null, 1));
    console.log(`\nJSON written to ${args.json}`);
  }
  await fs.rm(trashDir(w), { recursive: true, force: true });
  if (!args.scratch) await fs.rm(scratch, { recursive: true, force: true });
}

function machineFacts(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const sha = run("grep -m1 -o -w sha_ni /proc/cpuinfo || true").trim() ? 'with SHA-NI' : 'without SHA-NI';
  return `${os.cpus().length} x ${cpu} (${sha}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
