import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeSummary, encodeSummary, SUMMARY_KEY } from '../../src/format/summary.js';
import { GROVE_BIN } from '../helpers.js';

/**
 * The drop-in comparison: one command line under the real ostree and under grove, stdout (as
 * bytes), stderr and exit status side by side.
 */

export interface Outcome { code: number; stdout: Buffer; stderr: string }

export function runTool(tool: 'ostree' | 'grove', args: string[], opts: { cwd?: string } = {}): Promise<Outcome> {
  const [cmd, argv] = tool === 'ostree' ? ['ostree', args] : [process.execPath, [GROVE_BIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd !== undefined && { cwd: opts.cwd }) });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
  });
}

export interface SameOptions {
  /** Applied to both stdouts (as UTF-8 text) before comparing, e.g. to sort hash-table order. */
  stdout?: (s: string) => string;
  /** Applied to both stderrs before comparing. */
  stderr?: (s: string) => string;
  /** The run must fail (ostree's exit status is not 0). */
  fails?: boolean;
}

/** `args` for ostree against `oRepo` and for grove against `gRepo`; everything must match. */
export async function same(args: string[], oRepo: string, gRepo: string = oRepo, opts: SameOptions = {}): Promise<{ o: Outcome; g: Outcome }> {
  const withRepo = (repo: string) => [args[0]!, `--repo=${repo}`, ...args.slice(1)];
  const [o, g] = await Promise.all([runTool('ostree', withRepo(oRepo)), runTool('grove', withRepo(gRepo))]);
  assertSame(o, g, args.join(' '), opts);
  return { o, g };
}

export function assertSame(o: Outcome, g: Outcome, what: string, opts: SameOptions = {}): void {
  if (opts.fails === true) assert.notEqual(o.code, 0, `ostree ${what} was expected to fail`);
  else if (opts.fails === false) assert.equal(o.code, 0, `ostree ${what} failed: ${o.stderr}`);
  assert.equal(g.code, o.code, `${what}: exit status (grove stderr: ${g.stderr}; ostree stderr: ${o.stderr})`);
  const so = opts.stdout ? opts.stdout(o.stdout.toString('utf8')) : null;
  if (so !== null) assert.equal(opts.stdout!(g.stdout.toString('utf8')), so, `${what}: stdout`);
  else assert.ok(g.stdout.equals(o.stdout), `${what}: stdout differs\n--- ostree\n${o.stdout.toString('latin1').slice(0, 3000)}\n--- grove\n${g.stdout.toString('latin1').slice(0, 3000)}`);
  const eo = opts.stderr ? opts.stderr(o.stderr) : o.stderr;
  const eg = opts.stderr ? opts.stderr(g.stderr) : g.stderr;
  assert.equal(eg, eo, `${what}: stderr`);
}

/** Lines sorted: for output ostree prints from a hash table. */
export const sortLines = (s: string): string => s.split('\n').filter((l) => l !== '').sort().join('\n');

/**
 * grove's summary equals ostree's once its last-modified time is ostree's: the two tools run at
 * once, and may write their summaries in different seconds.
 */
export async function assertSameSummary(gRepo: string, oRepo: string): Promise<void> {
  const o = await fs.readFile(path.join(oRepo, 'summary'));
  const g = decodeSummary(await fs.readFile(path.join(gRepo, 'summary')));
  const when = decodeSummary(o).metadata.find(([k]) => k === SUMMARY_KEY.lastModified)!;
  g.metadata = g.metadata.map((m) => (m[0] === SUMMARY_KEY.lastModified ? when : m));
  assert.ok(Buffer.from(encodeSummary(g)).equals(o), 'summary bytes');
}
