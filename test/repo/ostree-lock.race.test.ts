import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GROVE_BIN, ROOT, groveOk, needsOstree, ostree, tempDir } from '../helpers.js';
import { assertSound, setLockTimeout, smallTree, start, type Exit } from './lock-support.js';

/**
 * grove and the real ostree writing and pruning one repository at the same moment, as real
 * processes: every round, one side writes a commit (grove commit, grove pull-local, ostree
 * commit) while the other prunes it over and over (`ostree prune --refs-only --depth=0`, grove's
 * library prune). Without one lock between them, a prune deletes objects that the writer has
 * published, or found present and reused, before its ref names them: the ref then names an
 * incomplete commit. Each round's tree is first committed and its ref deleted, so that the
 * writer reuses objects that prune wants gone. After each round: `ostree fsck` is clean and every
 * ref names a complete commit.
 *
 * `[core] lock-timeout-secs=-1` makes ostree wait with F_OFD_SETLKW, woken the moment the lock
 * is free, instead of retrying once a second; that keeps each round short.
 */

const ROUNDS = 20;
const ENV = { GROVE_THREADS: '1' };

function ok(e: Exit, what: string): string {
  assert.equal(e.code, 0, `${what} failed (${e.signal ?? e.code}): ${e.stderr}`);
  return e.stdout.trim();
}

/** `ostree prune --refs-only --depth=0` back to back on `repo` until stopped; resolves to how many ran. */
function ostreePruneLoop(repo: string, stopFile: string): { stop: () => Promise<number> } {
  fs.rmSync(stopFile, { force: true });
  const loop = start('sh', ['-c', 'n=0; while [ ! -e "$1" ]; do ostree prune --repo="$2" --refs-only --depth=0 >/dev/null || exit 1; n=$((n+1)); done; echo $n', 'sh', stopFile, repo]);
  return {
    stop: async () => {
      fs.writeFileSync(stopFile, '');
      return Number(ok(await loop.exited, 'the ostree prune loop'));
    },
  };
}

/** Commits `tree` with no ref: its objects are in the store, unreachable. */
function leaveGarbage(repo: string, tree: string): void {
  ostree(['commit', `--repo=${repo}`, '--orphan', tree]);
}

/**
 * Resolves once grove has a transaction open in `repo` (its staging directory exists), or once
 * `exited` settles: prunes started then race with the transaction, not with node starting up.
 */
async function inTransaction(repo: string, exited: Promise<unknown>): Promise<void> {
  let done = false;
  void exited.then(() => { done = true; });
  while (!done && !fs.readdirSync(path.join(repo, 'tmp')).some((n) => n.startsWith('grove-staging-'))) await sleep(3);
}

const head = (repo: string): string => fs.readFileSync(path.join(repo, 'refs/heads/main'), 'utf8').trim();

describe('grove and ostree exclude each other through REPO/.lock', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-lockrace-'));
  });
  after(async () => cleanup());

  it(`grove commit while ostree prune runs (${ROUNDS} rounds)`, async () => {
    const repo = path.join(dir, 'commit-repo');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    setLockTimeout(repo, -1);
    for (let round = 0; round < ROUNDS; round++) {
      const tree = path.join(dir, `commit-tree-${round}`);
      await smallTree(tree, `commit round ${round}`);
      leaveGarbage(repo, tree);
      const writer = start(process.execPath, [GROVE_BIN, 'commit', `--repo=${repo}`, '-b', 'main', tree], { env: ENV });
      await inTransaction(repo, writer.exited);
      const loop = ostreePruneLoop(repo, path.join(dir, 'stop'));
      const commit = await writer.exited;
      const prunes = await loop.stop();
      const checksum = ok(commit, `round ${round}: grove commit`);
      assert.ok(prunes > 0, `round ${round}: no prune ran`);
      assert.deepEqual(assertSound(repo, `round ${round}`), ['main']);
      assert.equal(head(repo), checksum);
    }
  });

  it(`grove pull-local while ostree prune runs on the destination (${ROUNDS} rounds)`, async () => {
    const src = path.join(dir, 'pull-src');
    const repo = path.join(dir, 'pull-repo');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    setLockTimeout(repo, -1);
    for (let round = 0; round < ROUNDS; round++) {
      const tree = path.join(dir, `pull-tree-${round}`);
      await smallTree(tree, `pull round ${round}`);
      const checksum = ostree(['commit', `--repo=${src}`, '-b', 'main', tree]).stdout.trim();
      leaveGarbage(repo, tree);
      const writer = start(process.execPath, [GROVE_BIN, 'pull-local', `--repo=${repo}`, src, 'main'], { env: ENV });
      await inTransaction(repo, writer.exited);
      const loop = ostreePruneLoop(repo, path.join(dir, 'stop'));
      const pull = await writer.exited;
      const prunes = await loop.stop();
      ok(pull, `round ${round}: grove pull-local`);
      assert.ok(prunes > 0, `round ${round}: no prune ran`);
      assert.deepEqual(assertSound(repo, `round ${round}`), ['main']);
      assert.equal(head(repo), checksum);
    }
  });

  it(`ostree commit while grove's library prune runs in another process (${ROUNDS} rounds)`, async () => {
    const repo = path.join(dir, 'ostree-repo');
    ostree(['init', `--repo=${repo}`, '--mode=archive']);
    setLockTimeout(repo, -1);
    const pruner = start(process.execPath, [path.join(ROOT, 'dist/test/repo/grove-prune-loop.js'), repo], { stdin: 'pipe' });
    const lines: string[] = [];
    let wake: (() => void) | null = null;
    let buf = '';
    pruner.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      wake?.();
    });
    const nextLine = async (): Promise<string> => {
      while (lines.length === 0) {
        const exited = pruner.exited.then((e) => { throw new Error(`the grove prune loop exited: ${e.stderr}`); });
        await Promise.race([new Promise<void>((r) => { wake = r; }), exited]);
      }
      return lines.shift()!;
    };
    try {
      assert.equal(await nextLine(), 'ready');
      for (let round = 0; round < ROUNDS; round++) {
        const tree = path.join(dir, `ostree-tree-${round}`);
        await smallTree(tree, `ostree round ${round}`);
        leaveGarbage(repo, tree);
        pruner.child.stdin!.write('go\n');
        const commit = await start('ostree', ['commit', `--repo=${repo}`, '-b', 'main', tree]).exited;
        pruner.child.stdin!.write('stop\n');
        const prunes = Number(await nextLine());
        const checksum = ok(commit, `round ${round}: ostree commit`);
        assert.ok(prunes > 0, `round ${round}: no prune ran`);
        assert.deepEqual(assertSound(repo, `round ${round}`), ['main']);
        assert.equal(head(repo), checksum);
      }
    } finally {
      pruner.child.stdin!.end();
      await pruner.exited;
    }
  });
});
