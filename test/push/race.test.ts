import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Repo } from '../../src/repo/repo.js';
import { needsOstree, ostree, tempDir } from '../helpers.js';
import { groveRun, ostreeAsync } from '../interop/support.js';
import { ALL_TOKEN, TOKENS, builderCommit, smallTree, startServerProcess } from './support.js';

/**
 * Eight builders push at once, as real processes over loopback, to a `grove serve --receive`
 * process: four to refs of their own, four racing on one ref that none of them has seen. Every
 * distinct ref lands; exactly one racer wins, and the others are refused naming the ref and both
 * commits; the server is fsck clean for ostree, and ostree pulls exactly the winners.
 */
describe('eight builders pushing at once', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('grove-push-race-')));
  after(() => cleanup());

  it('every distinct ref lands, exactly one racer wins, the others are refused', async () => {
    const server = path.join(dir, 'server');
    await Repo.init(server, { mode: 'archive' });
    const tokens = path.join(dir, 'tokens');
    fs.writeFileSync(tokens, TOKENS);
    const srv = await startServerProcess(server, tokens);
    try {
      const builders = Array.from({ length: 8 }, (_, i) => ({
        repo: path.join(dir, `b${i}`),
        ref: i < 4 ? `os/x86_64/b${i}` : 'os/x86_64/race',
      }));
      const commits = await Promise.all(builders.map((b, i) => builderCommit(b.repo, 'archive', b.ref, path.join(dir, `t${i}`), smallTree(100 + i, { files: 40 }))));
      const runs = await Promise.all(builders.map((b) => groveRun(['push', `--repo=${b.repo}`, `--token=${ALL_TOKEN}`, srv.url])));
      for (let i = 0; i < 4; i++) assert.equal(runs[i]!.code, 0, runs[i]!.stderr);
      const winners = [4, 5, 6, 7].filter((i) => runs[i]!.code === 0);
      assert.equal(winners.length, 1, runs.map((r) => r.stderr).join(''));
      const w = winners[0]!;
      for (const i of [4, 5, 6, 7].filter((j) => j !== w)) {
        assert.equal(runs[i]!.code, 1);
        assert.equal(runs[i]!.stderr, `error: os/x86_64/race: the server has ${commits[w]}, which ${commits[i]} does not build on (another builder pushed it; pull and rebuild, or push --force to replace it)\n`);
      }
      assert.equal(ostree(['fsck', `--repo=${server}`]).code, 0);
      // The real ostree pulls every ref the summary lists: exactly the winners.
      const client = path.join(dir, 'client');
      ostree(['init', `--repo=${client}`, '--mode=archive']);
      ostree(['remote', 'add', `--repo=${client}`, '--no-gpg-verify', 'farm', srv.url]);
      await ostreeAsync(['pull', `--repo=${client}`, '--mirror', 'farm']);
      const refs = ostree(['refs', `--repo=${client}`]).stdout.split('\n').filter((l) => l !== '').sort();
      assert.deepEqual(refs, ['os/x86_64/b0', 'os/x86_64/b1', 'os/x86_64/b2', 'os/x86_64/b3', 'os/x86_64/race']);
      for (const [i, ref] of [[0, 'os/x86_64/b0'], [1, 'os/x86_64/b1'], [2, 'os/x86_64/b2'], [3, 'os/x86_64/b3'], [w, 'os/x86_64/race']] as const) {
        assert.equal(ostree(['rev-parse', `--repo=${client}`, ref]).stdout.trim(), commits[i]);
      }
      assert.equal(ostree(['fsck', `--repo=${client}`]).code, 0);
    } finally {
      await srv.stop();
    }
  });
});
