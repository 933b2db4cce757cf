import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { removeAttributeSync } from '@napi-rs/xattr';
import { buildTree } from '../../fixtures/trees/build.js';
import { Repo } from '../../src/repo/repo.js';
import { REPO_MODES, type RepoMode } from '../../src/repo/mode.js';
import type { ObjectType } from '../../src/format/objects.js';
import { fsckRepo } from '../../src/fsck/fsck.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { getXattr, setXattr } from '../../src/xattr/xattrs.js';
import { grove, groveOk, tempDir } from '../helpers.js';

/**
 * Acceptance point 3: damage one object at a time (a flipped byte, a truncation, a deletion,
 * and the mode-specific metadata: bare owners and modes, the bare-user `user.ostreemeta` xattr)
 * and check that `grove fsck` exits non-zero naming that object's checksum. Each damage is
 * undone before the next, so one repository per mode serves every case.
 */

type Kind = 'commit' | 'dirtree' | 'dirmeta' | 'content';
const KINDS: Kind[] = ['commit', 'dirtree', 'dirmeta', 'content'];

interface Damage {
  name: string;
  /** Modes where it applies; all when absent. */
  modes?: RepoMode[];
  kinds?: Kind[];
  /** Damages the object at `p` (a private copy of the original, or the original for `missing`). */
  apply: (p: string) => Promise<void>;
}

const flip = async (p: string, where: (len: number) => number) => {
  const bytes = await fs.readFile(p);
  assert.ok(bytes.length > 0, `${p} is empty`);
  const i = where(bytes.length);
  bytes[i] = bytes[i]! ^ 0x01;
  // writeFile on the existing file keeps its owner, mode and xattrs: only the bytes change.
  await fs.writeFile(p, bytes);
};

const DAMAGES: Damage[] = [
  { name: 'a byte flipped in the middle', apply: (p) => flip(p, (n) => n >> 1) },
  { name: 'its last byte flipped', apply: (p) => flip(p, (n) => n - 1) },
  {
    name: 'truncated',
    apply: async (p) => {
      const st = await fs.stat(p);
      await fs.truncate(p, st.size >> 1);
    },
  },
  { name: 'missing', apply: (p) => fs.rm(p) },
  {
    name: 'a changed mode',
    modes: ['bare', 'bare-user-only'],
    kinds: ['content'],
    apply: async (p) => {
      const st = await fs.lstat(p);
      await fs.chmod(p, (st.mode & 0o7777) ^ 0o001);
    },
  },
  { name: 'a changed owner', modes: ['bare'], kinds: ['content'], apply: (p) => fs.lchown(p, 4242, 4242) },
  {
    name: 'a byte flipped in user.ostreemeta',
    modes: ['bare-user'],
    kinds: ['content'],
    apply: async (p) => {
      const meta = Buffer.from(getXattr(p, 'user.ostreemeta')!);
      // Byte 11 is the low byte of the big-endian mode: the permissions change.
      meta[11] = meta[11]! ^ 0o002;
      setXattr(p, 'user.ostreemeta', meta);
    },
  },
  {
    name: 'a truncated user.ostreemeta',
    modes: ['bare-user'],
    kinds: ['content'],
    apply: async (p) => setXattr(p, 'user.ostreemeta', getXattr(p, 'user.ostreemeta')!.subarray(0, 5)),
  },
  {
    name: 'no user.ostreemeta',
    modes: ['bare-user'],
    kinds: ['content'],
    apply: async (p) => removeAttributeSync(p, 'user.ostreemeta'),
  },
];

function pseudoRandomText(n: number): string {
  let s = '';
  let x = 12345;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += (x >>> 8).toString(36);
  }
  return s.slice(0, n);
}

for (const mode of REPO_MODES) {
  describe(`grove fsck on a damaged ${mode} repository`, () => {
    let cleanup: () => Promise<void>;
    let repoPath: string;
    let saveDir: string;
    let repo: Repo;
    const pool = new WorkerPool({ threads: 1 });
    const objects = {} as Record<Kind, { checksum: string; type: ObjectType }>;

    before(async () => {
      const t = await tempDir('grove-fsck-');
      cleanup = t.cleanup;
      repoPath = path.join(t.dir, 'repo');
      saveDir = path.join(t.dir, 'saved');
      await fs.mkdir(saveDir);
      const tree = path.join(t.dir, 'tree');
      await buildTree(tree, [
        { path: 'data.txt', type: 'file', content: pseudoRandomText(5000), mode: 0o644 },
        { path: 'sub/more.txt', type: 'file', content: 'more\n' },
        { path: 'sub', type: 'dir', mode: 0o750 },
        { path: 'link', type: 'symlink', target: 'data.txt' },
      ]);
      groveOk(['init', `--repo=${repoPath}`, `--mode=${mode}`]);
      const commit = groveOk(['commit', `--repo=${repoPath}`, '-b', 'main', '--timestamp=@1700000000', tree]).trim();
      repo = await Repo.open(repoPath);
      const c = await repo.loadCommit(commit);
      const root = await repo.loadDirTree(c.rootTree);
      const data = root.files.find(([n]) => n === 'data.txt');
      assert.ok(data, 'data.txt in the root dirtree');
      objects.commit = { checksum: commit, type: 'commit' };
      // The subdirectory's own dirtree and (0750) dirmeta: damaging them breaks only a subtree.
      const sub = root.dirs.find(([n]) => n === 'sub')!;
      objects.dirtree = { checksum: sub[1], type: 'dirtree' };
      objects.dirmeta = { checksum: sub[2], type: 'dirmeta' };
      objects.content = { checksum: data[1], type: 'file' };
    });

    after(async () => {
      await pool.close();
      await cleanup();
    });

    it('passes before anything is damaged', () => {
      const r = grove(['fsck', `--repo=${repoPath}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
    });

    for (const kind of KINDS) {
      for (const [i, damage] of DAMAGES.entries()) {
        if (damage.modes && !damage.modes.includes(mode)) continue;
        if (damage.kinds && !damage.kinds.includes(kind)) continue;
        // A grove process costs most of a second (startup and pool), so the CLI runs for one
        // generic damage per object kind and mode (a different one in each mode) and for the
        // mode-specific ones; the others call the library's fsck, which the CLI only prints.
        const viaCli = i === REPO_MODES.indexOf(mode) || damage.modes !== undefined;
        it(`${viaCli ? 'grove fsck' : 'fsckRepo'} names a ${kind} object with ${damage.name}`, async () => {
          const { checksum, type } = objects[kind];
          const objPath = repo.objectPath(checksum, type);
          const saved = path.join(saveDir, path.basename(objPath));
          // The original inode moves aside untouched (bytes, owner, mode, xattrs, times) and
          // comes back afterwards; the damage is done to an exact copy.
          await fs.rename(objPath, saved);
          try {
            if (damage.name !== 'missing') {
              const cp = spawnSync('cp', ['-a', '--preserve=all', saved, objPath], { encoding: 'utf8' });
              assert.equal(cp.status, 0, cp.stderr);
              await damage.apply(objPath);
            }
            if (viaCli) {
              // ostree's report: the problem lines name the object, the last line is the error.
              const r = grove(['fsck', `--repo=${repoPath}`]);
              assert.equal(r.code, 1, `fsck exit status (stderr: ${r.stderr})`);
              assert.match(r.stderr, new RegExp(checksum), `the message names ${kind} ${checksum}`);
              assert.match(r.stderr.trimEnd().split('\n').at(-1)!, /^error: /);
            } else {
              // Some damage ends the run as it ends ostree's (a commit or dirtree that cannot be
              // read); what was reported up to there, or the error, names the object.
              const warned: string[] = [];
              let said: string;
              try {
                const res = await fsckRepo(repo, { pool, warn: (l) => warned.push(l) });
                assert.ok(res.failure !== null, 'fsck fails');
                const mine = res.problems.filter((p) => p.object === checksum);
                assert.ok(mine.length > 0, `a problem for ${kind} ${checksum}, got ${JSON.stringify(res.problems)}`);
                said = warned.join('\n');
              } catch (e) {
                said = `${warned.join('\n')}\n${(e as Error).message}`;
              }
              assert.match(said, new RegExp(checksum));
            }
          } finally {
            await fs.rm(objPath, { force: true });
            await fs.rename(saved, objPath);
            // fsck marks the commits holding a missing object partial, as ostree does.
            await fs.rm(path.join(repoPath, 'state', `${objects.commit.checksum}.commitpartial`), { force: true });
          }
        });
      }
    }

    it('passes again once every object is restored', async () => {
      const res = await fsckRepo(repo, { pool });
      assert.deepEqual(res.problems, []);
      assert.equal(res.failure, null);
    });
  });
}
