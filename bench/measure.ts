import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** One timed run of a shell command: wall seconds and peak RSS (KiB) when GNU time is present. */
export interface Sample { seconds: number; maxRssKiB: number | null }

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

export function haveGnuTime(): boolean {
  return GNU_TIME !== null;
}

/**
 * Runs `cmd` through bash, timing only it (not `setup`, nor the sync between them). Throws with the command's stderr when
 * it fails, so a broken tool never yields a fast, wrong figure.
 */
export function measure(cmd: string, opts: { setup?: string; env?: NodeJS.ProcessEnv } = {}): Sample {
  if (opts.setup) run(opts.setup, opts.env);
  // What earlier runs left for the disk to write is written now, not during this run.
  run('sync');
  const wrapped = GNU_TIME ? `${GNU_TIME} -f '__RSS__ %M' bash -c ${quote(cmd)}` : cmd;
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', wrapped], { encoding: 'utf8', env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${cmd}\n${r.stderr}`);
  const m = /__RSS__ (\d+)/.exec(r.stderr);
  return { seconds, maxRssKiB: m ? Number(m[1]) : null };
}

export function run(cmd: string, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`command failed (${r.status}): ${cmd}\n${r.stderr}`);
  return r.stdout;
}

export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
