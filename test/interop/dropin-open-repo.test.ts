import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { groveAsOstree, haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * A `--repo` that is not a repository, or not one this version can read: every verb that opens
 * the repository fails as ostree's does, with `opening repo: …` in ostree's words, the same exit
 * status, and nothing written into the directory (ostree makes `tmp/cache/` in a directory that has
 * `objects/` before it finds the config missing or unreadable; grove writes nothing there).
 */

const CONFIG = (body: string) => `[core]\n${body}`;

/** Name → how to make it under `dir` (null: leave the path absent). */
const CASES: Record<string, ((p: string) => void) | null> = {
  missing: null,
  'a file': (p) => fs.writeFileSync(p, 'not a repository\n'),
  'an empty directory': (p) => fs.mkdirSync(p),
  'no config': (p) => fs.mkdirSync(path.join(p, 'objects'), { recursive: true }),
  'no objects directory': (p) => {
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'config'), CONFIG('repo_version=1\nmode=archive-z2\n'));
  },
  'repo_version 2': (p) => {
    fs.mkdirSync(path.join(p, 'objects'), { recursive: true });
    fs.writeFileSync(path.join(p, 'config'), CONFIG('repo_version=2\nmode=archive-z2\n'));
  },
  'no repo_version': (p) => {
    fs.mkdirSync(path.join(p, 'objects'), { recursive: true });
    fs.writeFileSync(path.join(p, 'config'), CONFIG('mode=archive-z2\n'));
  },
  'an unknown mode': (p) => {
    fs.mkdirSync(path.join(p, 'objects'), { recursive: true });
    fs.writeFileSync(path.join(p, 'config'), CONFIG('repo_version=1\nmode=weird\n'));
  },
};

const VERBS = [['refs'], ['log', 'main'], ['fsck'], ['summary', '-u'], ['config', 'get', 'core.mode'], ['prune'], ['static-delta', 'list']];

/** Every file under `p` with its bytes (or what `p` itself is). */
function snapshot(p: string): string {
  if (!fs.existsSync(p)) return 'absent';
  if (!fs.statSync(p).isDirectory()) return `file ${fs.readFileSync(p, 'utf8')}`;
  return (fs.readdirSync(p, { recursive: true }) as string[]).sort().map((f) => {
    const full = path.join(p, f);
    return fs.statSync(full).isDirectory() ? `${f}/` : `${f} ${fs.readFileSync(full, 'utf8')}`;
  }).join('\n');
}

describe('a --repo that is not a readable repository', needsOstree(), () => {
  let dir = '';
  let cleanup = async () => undefined as void;
  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-open-repo-'));
  });
  after(async () => cleanup());

  for (const [name, make] of Object.entries(CASES)) {
    test(`${name}: every verb fails as ostree does`, () => {
      const slug = name.replace(/ /g, '-');
      // Twin directories: ostree writes into its own.
      const oRepo = `o-${slug}`;
      const gRepo = `g-${slug}`;
      make?.(path.join(dir, oRepo));
      make?.(path.join(dir, gRepo));
      const before = snapshot(path.join(dir, gRepo));
      for (const verb of VERBS) {
        // Relative paths: ostree names the directory by its absolute path.
        const args = (repo: string) => [verb[0]!, `--repo=${repo}`, ...verb.slice(1)];
        const o = ostree(args(oRepo), { allowFail: true, cwd: dir });
        const g = groveAsOstree(args(gRepo), { cwd: dir });
        const what = `${name}: ${verb.join(' ')}`;
        assert.equal(o.code, 1, `${what}: ostree fails`);
        assert.match(o.stderr, /^error: opening repo: /, `${what}: ostree's message`);
        assert.equal(g.stderr, o.stderr.replaceAll(oRepo, gRepo), `${what}: stderr`);
        assert.equal(g.code, o.code, `${what}: exit status`);
        assert.equal(g.stdout, '', `${what}: stdout`);
      }
      assert.equal(snapshot(path.join(dir, gRepo)), before, `${name}: grove wrote nothing`);
    });
  }
});
