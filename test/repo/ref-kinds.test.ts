import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Repo } from '../../src/repo/repo.js';
import { pruneRepo } from '../../src/repo/prune.js';
import { listRefEntries, updateRefs } from '../../src/repo/refs.js';
import { fsckRepo } from '../../src/fsck/fsck.js';
import { generateKeyPair } from '../../src/sign/ed25519.js';
import { GROVE_BIN, grove, groveOk, needsOstree, ostree, tempDir } from '../helpers.js';
import { assertSound, holdOfd, pendingAfter, smallTree, start } from './lock-support.js';

/**
 * Refs of every kind — heads, remotes, mirrors — listed by one function and kept by prune and
 * checked by fsck as ostree does; every ref write goes through the repository lock and names
 * a commit the store has.
 */

const MIRROR = 'org.example.Os';

/** Every object file under `repo/objects`, relative and sorted (`find objects` in short). */
function objectFiles(repo: string): string[] {
  return (fs.readdirSync(path.join(repo, 'objects'), { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(repo, 'objects', f)).isFile())
    .sort();
}

describe('refs of every kind', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const trees: string[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-refkinds-'));
    for (const t of ['one', 'two', 'three']) {
      trees.push(path.join(dir, `tree-${t}`));
      await smallTree(trees.at(-1)!, t, 12);
    }
  });
  after(async () => cleanup());

  const fresh = (): string => {
    const p = path.join(dir, `r${n++}`);
    ostree(['init', `--repo=${p}`, '--mode=archive']);
    return p;
  };

  it('one listing names heads, remotes and mirrors with their kind; options choose kinds', async () => {
    const r = fresh();
    const c = ostree(['commit', `--repo=${r}`, '-b', 'os/main', trees[0]!]).stdout.trim();
    ostree(['refs', `--repo=${r}`, '--create=origin:os/stable', 'os/main']);
    ostree(['refs', `--repo=${r}`, '--collections', `--create=${MIRROR}:os/main`, 'os/main']);
    const all = await listRefEntries(r, { kinds: ['head', 'remote', 'mirror'] });
    assert.deepEqual(all, [
      { kind: 'head', remote: null, collectionId: null, ref: 'os/main', name: 'os/main', checksum: c },
      { kind: 'remote', remote: 'origin', collectionId: null, ref: 'os/stable', name: 'origin:os/stable', checksum: c },
      { kind: 'mirror', remote: null, collectionId: MIRROR, ref: 'os/main', name: `(${MIRROR}, os/main)`, checksum: c },
    ]);
    assert.deepEqual((await listRefEntries(r, { kinds: ['mirror'] })).map((e) => e.name), [`(${MIRROR}, os/main)`]);
    assert.deepEqual((await listRefEntries(r, { kinds: ['head', 'remote'] })).map((e) => e.name), ['os/main', 'origin:os/stable']);
    // `grove refs` prints what `ostree refs` prints.
    assert.equal(groveOk(['refs', `--repo=${r}`]), ostree(['refs', `--repo=${r}`]).stdout.split('\n').filter(Boolean).sort().map((l) => `${l}\n`).join(''));
  });

  it('prune keeps what only a refs/mirrors ref reaches, exactly as ostree prune does on a twin', async () => {
    const r = fresh();
    ostree(['commit', `--repo=${r}`, '-b', 'main', trees[0]!]);
    ostree(['commit', `--repo=${r}`, '-b', 'main', trees[1]!]);
    ostree(['refs', `--repo=${r}`, '--collections', `--create=${MIRROR}:main`, 'main']);
    ostree(['refs', `--repo=${r}`, '--delete', 'main']);
    // Something for both to delete: a commit no ref names any more.
    ostree(['commit', `--repo=${r}`, '-b', 'doomed', trees[2]!]);
    ostree(['refs', `--repo=${r}`, '--delete', 'doomed']);
    assert.deepEqual(fs.readdirSync(path.join(r, 'refs/heads')), []);
    const twin = `${r}-twin`;
    assert.equal(spawnSync('cp', ['-a', r, twin]).status, 0);

    ostree(['prune', `--repo=${twin}`, '--refs-only', '--depth=0']);
    const result = await pruneRepo(await Repo.open(r), { depth: 0 });
    assert.ok(result.pruned > 0);
    assert.deepEqual(objectFiles(r), objectFiles(twin));
    assert.ok(objectFiles(r).length > 12, 'the mirror ref kept its commit and tree');
    assert.equal(ostree(['fsck', `--repo=${r}`], { allowFail: true }).code, 0);
  });

  it('fsck checks mirror refs as ostree fsck does', async () => {
    const r = fresh();
    ostree(['commit', `--repo=${r}`, '-b', 'main', trees[0]!]);
    const missing = 'c'.repeat(64);
    fs.mkdirSync(path.join(r, 'refs/mirrors', MIRROR), { recursive: true });
    fs.writeFileSync(path.join(r, 'refs/mirrors', MIRROR, 'gone'), `${missing}\n`);
    assert.notEqual(ostree(['fsck', `--repo=${r}`], { allowFail: true }).code, 0, 'the oracle: ostree fsck fails too');
    // As ostree fsck: a ref to a missing commit stops it, in ostree's words.
    await assert.rejects(fsckRepo(await Repo.open(r)), new RegExp(`^GroveError: Loading commit for ref \\(${MIRROR}, gone\\): No such metadata object ${missing}\\.commit$`));
  });

  it('refs --create=NEW REV fails with one line when the commit REV names is not in the store', async () => {
    const r = fresh();
    const c = ostree(['commit', `--repo=${r}`, '-b', 'main', trees[0]!]).stdout.trim();
    const missing = 'd'.repeat(64);
    let res = grove(['refs', `--repo=${r}`, `--create=new`, missing]);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, new RegExp(`^error: cannot point ref 'new' at commit ${missing}: it is not in \\S+\\n$`));
    // A ref naming a commit that was deleted behind it.
    fs.rmSync(path.join(r, 'objects', c.slice(0, 2), `${c.slice(2)}.commit`));
    res = grove(['refs', `--repo=${r}`, '--create=new2', 'main']);
    assert.equal(res.stderr.split('\n').filter(Boolean).length, 1, res.stderr);
    assert.notEqual(res.code, 0);
    assert.deepEqual(fs.readdirSync(path.join(r, 'refs/heads')), ['main']);
    await assert.rejects(updateRefs(await Repo.open(r), [['x', missing]]), { code: 'GROVE_NO_COMMIT' });
  });

  it('ref moves and detached signatures wait for an exclusive holder (prune) of the lock', async () => {
    const r = fresh();
    const c = ostree(['commit', `--repo=${r}`, '-b', 'main', trees[0]!]).stdout.trim();
    const key = generateKeyPair();
    const held = await holdOfd(r, 'exclusive');
    try {
      const create = start(process.execPath, [GROVE_BIN, 'refs', `--repo=${r}`, '--create=copy', 'main']);
      const sign = start(process.execPath, [GROVE_BIN, 'sign', `--repo=${r}`, 'main', key.secret]);
      const moved = updateRefs(await Repo.open(r), [['main', null]]);
      assert.equal(await pendingAfter(moved, 1200), true, 'updateRefs moved a ref while the lock was held exclusive');
      assert.equal(await pendingAfter(create.exited, 1), true, 'refs --create wrote while the lock was held exclusive');
      assert.equal(await pendingAfter(sign.exited, 1), true, 'sign wrote while the lock was held exclusive');
      assert.equal(fs.existsSync(path.join(r, 'objects', c.slice(0, 2), `${c.slice(2)}.commitmeta`)), false);
      await held.release();
      await moved;
      assert.equal((await create.exited).code, 0);
      assert.equal((await sign.exited).code, 0);
    } finally {
      await held.release();
    }
    groveOk(['sign', `--repo=${r}`, '--verify', 'copy', key.public]);
    assert.deepEqual(assertSound(r, 'after the writes'), ['copy']);
  });
});
