import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CAPTURE_FILE, type OstreeCli } from '../../fixtures/cli-matrix/capture.js';
import { GROVE_BIN, needsOstree, tempDir, type RunResult } from '../helpers.js';

/**
 * Every verb and sub-verb of ostree 2022.7 (from the capture of its help), with its repository
 * or sysroot option before the verb, between a family and its sub-verb, and after: the option is
 * read in each place (the error names the missing repository or sysroot it was given), `--help`
 * is honoured in each place, and an unknown option is refused in each place, as ostree does.
 * Exit status and the error line (or the usage line of the help) are compared: each tool's help
 * has its own descriptions.
 */
const lastLine = (s: string) => s.replace(/\n$/, '').split('\n').at(-1) ?? '';

describe('every verb reads its options before, between and after, as ostree does', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  const cli = JSON.parse(fs.readFileSync(CAPTURE_FILE, 'utf8')) as OstreeCli;

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-positions-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.symlinkSync(GROVE_BIN, path.join(dir, 'bin/ostree'));
  });
  after(async () => cleanup());

  const run = (tool: 'ostree' | 'grove', args: string[]): RunResult => {
    const r = tool === 'ostree'
      ? spawnSync('ostree', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } })
      : spawnSync(process.execPath, [path.join(dir, 'bin/ostree'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8', GROVE_NO_PROGRESS: '1' } });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  /** The three places an option can go in `words` (a verb path): before it, after its first word (families), at the end. */
  const placements = (words: string[], opt: string): string[][] => {
    const out = [[opt, ...words], [...words, opt]];
    if (words.length > 1) out.push([words[0]!, opt, ...words.slice(1)]);
    return out;
  };

  /** Runs `args` under both tools; a difference is collected in `wrong` (every verb is tried, then all differences reported). */
  const same = (args: string[], wrong: string[]) => {
    const o = run('ostree', args);
    const g = run('grove', args);
    if (g.code !== o.code || lastLine(g.stderr) !== lastLine(o.stderr)) {
      wrong.push(`ostree ${args.join(' ')}: ostree ${o.code} ${lastLine(o.stderr)} / grove ${g.code} ${lastLine(g.stderr)}`);
    }
    return o;
  };

  it('a missing --repo or --sysroot, in every place, for every verb that takes one', () => {
    let checked = 0;
    const wrong: string[] = [];
    for (const v of cli.verbs) {
      const words = v.path.split(' ');
      const takes = (long: string) => v.options.some((o) => o.long === long);
      // Families without a sub-verb only print their usage; their sub-verbs are checked. init
      // and init-fs make what they are given.
      if (cli.verbs.some((x) => x.path.startsWith(`${v.path} `)) || v.path === 'init' || v.path === 'admin init-fs') continue;
      for (const [long, value] of [['repo', 'no-such-repo'], ['sysroot', 'no-such-sysroot']] as const) {
        if (!takes(long)) continue;
        for (const args of placements(words, `--${long}=${value}`)) {
          const o = same(args, wrong);
          assert.notEqual(o.code, 0, `ostree ${args.join(' ')} fails`);
          checked++;
        }
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(checked > 100, `only ${checked} command lines checked`);
  });

  it('--help, in every place, for every verb: exit 0 and ostree\'s usage line', () => {
    const wrong: string[] = [];
    const usage = (out: string) => out.split('\n').slice(0, 2).join('\n');
    for (const v of cli.verbs) {
      for (const args of placements(v.path.split(' '), '--help')) {
        const o = run('ostree', args);
        const g = run('grove', args);
        if (g.code !== o.code || usage(g.stdout) !== usage(o.stdout) || g.stderr !== o.stderr) {
          wrong.push(`ostree ${args.join(' ')}: ostree ${o.code} ${JSON.stringify(usage(o.stdout))} / grove ${g.code} ${JSON.stringify(usage(g.stdout))}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('an unknown option, in every place, for every verb', () => {
    const wrong: string[] = [];
    for (const v of cli.verbs) {
      for (const args of placements(v.path.split(' '), '--no-such-option')) same(args, wrong);
    }
    assert.deepEqual(wrong, []);
  });
});
