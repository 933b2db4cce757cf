import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { spawnSync } from 'node:child_process';
import { GROVE_BIN, grove, haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { decodeSuperblock, encodeSuperblock, type DeltaObject } from '../../src/delta/superblock.js';
import { PART_PAYLOAD_TYPE, lzma } from '../../src/delta/part.js';
import { decode, encode } from '../../src/format/gvariant.js';
import { readVarint, writeVarint } from '../../src/delta/varint.js';
import { objectsOf } from './objects.js';
import { regenerateSummary } from '../../src/net/summary.js';
import { Repo } from '../../src/repo/repo.js';
import { SUMMARY_KEY, decodeSummary, readBeU64 } from '../../src/format/summary.js';

/**
 * Static deltas that the real ostree made, read by grove: `static-delta list` and `show` print
 * what ostree prints, and `apply-offline` stores the very objects ostree's apply-offline stores
 * (bytes and xattrs), for a delta from scratch, one from A to B with a bsdiff'ed file, and an
 * inline one. Then hostile deltas — made from ostree's by changing one thing and, where the
 * delta would otherwise be refused for its checksum, fixing the superblock up — are refused
 * with one line and leave the repository as it was.
 */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every object file under `repo/objects` with its bytes' checksum and its xattrs. */

describe('static deltas made by ostree, read and applied by grove', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let src = '';
  let a = '';
  let b = '';
  const deltaDir = (name: string) => {
    const base = path.join(src, 'deltas');
    for (const d1 of fs.readdirSync(base)) for (const d2 of fs.readdirSync(path.join(base, d1))) if ((name.includes('-') ? d2.includes('-') : !d2.includes('-'))) return path.join(base, d1, d2);
    throw new Error(`no delta ${name}`);
  };

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-delta-'));
    const tree = path.join(dir, 'tree');
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >> 9)) & 0xff;
    // Random bytes: ostree's rolling checksum finds nothing in them, so it bsdiffs this one
    // (and the patterned file above it rebuilds from the old one's chunks with write ops).
    const blob = randomBytes(200_000);
    await buildTree(tree, [
      { path: 'etc/hostname', type: 'file', content: 'grove\n' },
      { path: 'usr/bin/tool', type: 'file', content: big, mode: 0o755 },
      { path: 'usr/lib/blob', type: 'file', content: blob },
      { path: 'usr/share/empty', type: 'file', content: '' },
      { path: 'usr/share/tagged', type: 'file', content: 'x\n', xattrs: { 'user.grove': 'yes' } },
      { path: 'usr/lib/link', type: 'symlink', target: '../bin/tool' },
      { path: 'var/old', type: 'file', content: 'goes away\n' },
    ]);
    src = path.join(dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    a = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000000', `--tree=dir=${tree}`, '-s', 'A']).stdout.trim();
    // B: a few bytes of the big file change (bsdiff), one file goes, one comes, the link moves.
    big.write('grove!', 150_000);
    fs.writeFileSync(path.join(tree, 'usr/bin/tool'), big);
    blob.write('XY', 1000);
    fs.writeFileSync(path.join(tree, 'usr/lib/blob'), blob);
    fs.rmSync(path.join(tree, 'var/old'));
    fs.writeFileSync(path.join(tree, 'var/new'), 'new\n');
    fs.rmSync(path.join(tree, 'usr/lib/link'));
    fs.symlinkSync('../share/tagged', path.join(tree, 'usr/lib/link'));
    b = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000100', `--tree=dir=${tree}`, '-s', 'B']).stdout.trim();
    ostree(['static-delta', 'generate', `--repo=${src}`, '--empty', `--to=${a}`]);
    ostree(['static-delta', 'generate', `--repo=${src}`, `--from=${a}`, `--to=${b}`]);
    ostree(['static-delta', 'generate', `--repo=${src}`, '--empty', '--inline', `--to=${b}`, `--filename=${path.join(dir, 'inline-b')}`]);
  });

  after(() => cleanup());

  test('list and show print what ostree prints', async () => {
    const list = grove(['static-delta', 'list', `--repo=${src}`]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, ostree(['static-delta', 'list', `--repo=${src}`]).stdout);
    assert.equal(list.stdout.trim().split('\n').length, 2);
    for (const id of [a, `${a}-${b}`]) {
      const g = grove(['static-delta', 'show', `--repo=${src}`, id]);
      assert.equal(g.code, 0, g.stderr);
      assert.equal(g.stdout, ostree(['static-delta', 'show', `--repo=${src}`, id]).stdout);
    }
    // Both ways of rebuilding a changed file are there: bsdiff, and writes from the old object.
    assert.match(grove(['static-delta', 'show', `--repo=${src}`, `${a}-${b}`]).stdout, /setread=[1-9]\d* .*bspatch=1\n/);
    const empty = path.join(dir, 'no-deltas');
    ostree(['init', `--repo=${empty}`, '--mode=archive']);
    assert.equal(grove(['static-delta', 'list', `--repo=${empty}`]).stdout, '(No static deltas)\n');
  });

  test('summary -u lists the deltas as ostree does, byte for byte, and --view prints them alike', async () => {
    for (const noDeltas of [false, true]) {
      const repo = path.join(dir, `summary-${noDeltas}`);
      fs.cpSync(src, repo, { recursive: true });
      if (noDeltas) ostree(['config', `--repo=${repo}`, 'set', 'core.no-deltas-in-summary', 'true']);
      ostree(['summary', `--repo=${repo}`, '-u']);
      const theirs = fs.readFileSync(path.join(repo, 'summary'));
      const now = readBeU64(decodeSummary(theirs).metadata, SUMMARY_KEY.lastModified)!;
      await regenerateSummary(await Repo.open(repo), { now });
      const ours = fs.readFileSync(path.join(repo, 'summary'));
      assert.equal(ours.toString('hex'), theirs.toString('hex'));
      assert.equal(decodeSummary(ours).metadata.some(([k]) => k === SUMMARY_KEY.staticDeltas), !noDeltas);
      const env = { ...process.env, TZ: 'UTC' };
      const view = (cmd: string, pre: string[]) => spawnSync(cmd, [...pre, 'summary', `--repo=${repo}`, '--view'], { encoding: 'utf8', env }).stdout;
      assert.equal(view(process.execPath, [GROVE_BIN]), view('ostree', []));
    }
  });

  test('reindex writes the delta indexes ostree writes, byte for byte, and indexes lists them alike', () => {
    const files = (repo: string) => {
      const base = path.join(repo, 'delta-indexes');
      return fs.readdirSync(base, { recursive: true }).map(String).sort()
        .filter((f) => fs.statSync(path.join(base, f)).isFile()).map((f) => `${f} ${sha256(fs.readFileSync(path.join(base, f)))}`);
    };
    const g = path.join(dir, 'reindex-g');
    const o = path.join(dir, 'reindex-o');
    for (const r of [g, o]) fs.cpSync(src, r, { recursive: true });
    assert.equal(grove(['static-delta', 'reindex', `--repo=${g}`]).code, 0);
    ostree(['static-delta', 'reindex', `--repo=${o}`]);
    assert.deepEqual(files(g), files(o));
    assert.equal(files(g).length, 2);
    assert.equal(ostree(['config', `--repo=${g}`, 'get', 'core.indexed-deltas']).stdout, 'true\n');
    assert.equal(grove(['static-delta', 'indexes', `--repo=${g}`]).stdout, ostree(['static-delta', 'indexes', `--repo=${o}`]).stdout);
    // An index whose commit no delta leads to any more goes, in both.
    for (const r of [g, o]) fs.rmSync(path.join(r, path.relative(src, deltaDir(a))), { recursive: true });
    assert.equal(grove(['static-delta', 'reindex', `--repo=${g}`]).code, 0);
    ostree(['static-delta', 'reindex', `--repo=${o}`]);
    assert.deepEqual(files(g), files(o));
    assert.equal(files(g).length, 1);
  });

  test('the family\'s usage and the missing-argument errors are ostree\'s', () => {
    const g = grove(['static-delta']);
    const o = ostree(['static-delta'], { allowFail: true });
    assert.equal(g.code, 1);
    assert.equal(o.code, 1);
    assert.equal(g.stderr.split('\n').at(-2), o.stderr.split('\n').at(-2));
    // Every sub-verb grove lists is listed so by ostree (generate, verify, reindex are not built yet).
    const listed = g.stderr.split('\n').filter((l) => /^  [a-z-]+ {2,}\S/.test(l));
    assert.ok(listed.length >= 5);
    for (const l of listed) assert.ok(o.stderr.includes(`${l}\n`), l);
    for (const [verb, what] of [['show', 'DELTA'], ['delete', 'DELTA'], ['apply-offline', 'PATH']]) {
      const args = ['static-delta', verb!, `--repo=${src}`];
      const gr = grove(args);
      const or = ostree(args, { allowFail: true });
      assert.deepEqual([gr.code, gr.stdout, gr.stderr], [or.code, or.stdout, or.stderr]);
      assert.equal(gr.stderr, `error: ${what} must be specified\n`);
    }
    const missing = grove(['static-delta', 'delete', `--repo=${src}`, 'a'.repeat(64)]);
    assert.deepEqual([missing.code, missing.stderr], [1, ostree(['static-delta', 'delete', `--repo=${src}`, 'a'.repeat(64)], { allowFail: true }).stderr]);
  });

  test('show of a superblock file whose parts are not in the repository stops where ostree stops', () => {
    const args = (repo: string) => ['static-delta', 'show', `--repo=${repo}`, path.join(dir, 'inline-b')];
    const g = grove(args(src));
    const o = ostree(args(src), { allowFail: true });
    assert.equal(g.code, 1);
    assert.equal(o.code, 1);
    assert.equal(g.stdout, o.stdout);
    assert.equal(g.stderr, o.stderr);
  });

  for (const mode of ['bare-user', 'bare'] as const) {
    test(`apply-offline into ${mode} stores what ostree's stores: from scratch, A to B with bsdiff, inline`, () => {
      const g = path.join(dir, `g-${mode}`);
      const o = path.join(dir, `o-${mode}`);
      for (const r of [g, o]) ostree(['init', `--repo=${r}`, `--mode=${mode}`]);
      for (const d of [deltaDir(a), deltaDir(`${a}-${b}`)]) {
        const r = grove(['static-delta', 'apply-offline', `--repo=${g}`, d]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, '');
        ostree(['static-delta', 'apply-offline', `--repo=${o}`, d]);
      }
      assert.deepEqual(objectsOf(g), objectsOf(o));
      assert.match(ostree(['fsck', `--repo=${g}`]).stdout, /2 commits/);
      // The inline delta from scratch into a fresh repository.
      const gi = path.join(dir, `gi-${mode}`);
      const oi = path.join(dir, `oi-${mode}`);
      for (const r of [gi, oi]) ostree(['init', `--repo=${r}`, `--mode=${mode}`]);
      assert.equal(grove(['static-delta', 'apply-offline', `--repo=${gi}`, path.join(dir, 'inline-b')]).code, 0);
      ostree(['static-delta', 'apply-offline', `--repo=${oi}`, path.join(dir, 'inline-b')]);
      assert.deepEqual(objectsOf(gi), objectsOf(oi));
    });
  }

  test('apply-offline into an archive repository works where ostree aborts on the bsdiff (grove inflates the old file)', () => {
    const g = path.join(dir, 'g-archive');
    ostree(['init', `--repo=${g}`, '--mode=archive']);
    for (const d of [deltaDir(a), deltaDir(`${a}-${b}`)]) assert.equal(grove(['static-delta', 'apply-offline', `--repo=${g}`, d]).code, 0);
    assert.match(ostree(['fsck', `--repo=${g}`]).stdout, /2 commits/);
    const files = (r: string) => objectsOf(r).map((l) => l.split(' ')[0]!).filter((n) => n.endsWith('.filez'));
    assert.deepEqual(files(g), files(src));
  });

  test('apply-offline of A to B without A is refused in ostree\'s words, and stores nothing', () => {
    const g = path.join(dir, 'g-no-source');
    ostree(['init', `--repo=${g}`, '--mode=bare-user']);
    const r = grove(['static-delta', 'apply-offline', `--repo=${g}`, deltaDir(`${a}-${b}`)]);
    const o = ostree(['static-delta', 'apply-offline', `--repo=${g}`, deltaDir(`${a}-${b}`)], { allowFail: true });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, o.stderr);
    assert.deepEqual(objectsOf(g), []);
  });

  /**
   * A copy of the A-to-B delta (applied onto a repository holding A) with part 0's payload
   * changed by `mutate`, recompressed, and the superblock's checksum and size of it fixed, so
   * that only the change itself is wrong.
   */
  async function hostile(name: string, mutate: (payload: [unknown[], unknown[], Uint8Array, Uint8Array]) => Uint8Array | void, usize?: bigint, extraObjects: DeltaObject[] = []): Promise<{ repo: string; delta: string }> {
    const from = deltaDir(`${a}-${b}`);
    const delta = path.join(dir, `hostile-${name}`);
    fs.cpSync(from, delta, { recursive: true });
    const part = fs.readFileSync(path.join(from, '0'));
    const payload = decode(PART_PAYLOAD_TYPE, await new Promise<Buffer>((res) => lzma().decompress(part.subarray(1), {}, res))) as [unknown[], unknown[], Uint8Array, Uint8Array];
    const raw = mutate(payload) ?? encode(PART_PAYLOAD_TYPE, payload as never);
    const packed = await new Promise<Buffer>((res) => lzma().compress(Buffer.from(raw), { preset: 1 }, res));
    const bytes = Buffer.concat([Buffer.from('x'), packed]);
    fs.writeFileSync(path.join(delta, '0'), bytes);
    const sb = decodeSuperblock(fs.readFileSync(path.join(from, 'superblock')), 'superblock');
    sb.parts[0] = { ...sb.parts[0]!, checksum: sha256(bytes), size: BigInt(bytes.length), ...(usize !== undefined && { usize }), objects: [...sb.parts[0]!.objects, ...extraObjects] };
    fs.writeFileSync(path.join(delta, 'superblock'), encodeSuperblock(sb));
    const repo = path.join(dir, `repo-${name}`);
    ostree(['init', `--repo=${repo}`, '--mode=bare-user']);
    ostree(['static-delta', 'apply-offline', `--repo=${repo}`, deltaDir(a)]);
    return { repo, delta };
  }

  function refused(repo: string, delta: string, pattern: RegExp): void {
    const before = objectsOf(repo);
    const r = grove(['static-delta', 'apply-offline', `--repo=${repo}`, delta]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.deepEqual(objectsOf(repo), before);
    assert.equal(fs.readdirSync(path.join(repo, 'tmp')).filter((n) => !n.startsWith('cache')).length, 0);
  }

  test('a part whose bytes do not match the superblock\'s checksum is refused before it is read', async () => {
    const { repo, delta } = await hostile('intact', () => undefined);
    const sb = decodeSuperblock(fs.readFileSync(path.join(delta, 'superblock')), 'superblock');
    sb.parts[0] = { ...sb.parts[0]!, checksum: '00'.repeat(32) };
    fs.writeFileSync(path.join(delta, 'superblock'), encodeSuperblock(sb));
    refused(repo, delta, /Checksum mismatch in static delta part; expected=0{64} actual=[0-9a-f]{64}/);
  });

  test('an operation reaching outside the part\'s data is refused', async () => {
    const { repo, delta } = await hostile('outside', (p) => {
      // The first operation is open-splice-and-close of a metadata object: (length, offset);
      // its offset becomes one far past the data.
      const ops = p[3];
      assert.equal(ops[0], 'S'.charCodeAt(0));
      const pos = { at: 1 };
      const length = readVarint(ops, pos)!;
      readVarint(ops, pos);
      const head: number[] = [ops[0]!];
      writeVarint(head, length);
      writeVarint(head, 2 ** 40);
      p[3] = Buffer.concat([Buffer.from(head), ops.subarray(pos.at)]);
    });
    refused(repo, delta, /Invalid offset\/length/);
  });

  test('a part that inflates to far more than it declares (an xz bomb) is refused with bounded memory', async () => {
    const { repo, delta } = await hostile('bomb', (p) => {
      p[2] = Buffer.concat([p[2], Buffer.alloc(200 << 20)]);
    }, 1000n);
    refused(repo, delta, /inflates to more than the \d+ bytes its objects allow/);
  });

  /**
   * A copy of the A-to-B delta whose part 0 also yields one more valid file object ('smuggled\n',
   * mode 0644, written as `dir/smuggled`): its checksum is ostree's for these bytes and header.
   */
  async function withExtraObject(name: string, dirOfFile: string): Promise<{ repo: string; delta: string; checksum: string }> {
    fs.mkdirSync(dirOfFile, { recursive: true });
    const file = path.join(dirOfFile, 'smuggled');
    fs.writeFileSync(file, 'smuggled\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const checksum = ostree(['checksum', file]).stdout.trim();
    const { repo, delta } = await hostile(name, (p) => {
      const data = Buffer.from(p[2]);
      const at = data.length;
      p[2] = Buffer.concat([data, Buffer.from('smuggled\n')]);
      // (uid, gid, mode) as stored (big-endian); no xattrs.
      const be = (n: number) => ((n & 0xff) << 24 | (n & 0xff00) << 8 | (n >>> 8) & 0xff00 | n >>> 24) >>> 0;
      const st = fs.statSync(file);
      (p[0] as unknown[]).push([be(st.uid), be(st.gid), be(0o100644)]);
      (p[1] as unknown[]).push([]);
      const op: number[] = ['S'.charCodeAt(0)];
      writeVarint(op, (p[0] as unknown[]).length - 1);
      writeVarint(op, (p[1] as unknown[]).length - 1);
      writeVarint(op, 9);
      writeVarint(op, at);
      p[3] = Buffer.concat([Buffer.from(p[3]), Buffer.from(op)]);
    }, undefined, [{ type: 'file', checksum }]);
    return { repo, delta, checksum };
  }

  test('a part that yields an object the commit does not reach is refused, and nothing is kept', async () => {
    const { repo, delta, checksum } = await withExtraObject('smuggle', dir);
    refused(repo, delta, new RegExp(`yields ${checksum} \\(file\\), which commit [0-9a-f]{64} does not reach`));
  });

  test('a part that also yields an object the repository already has is applied: the check walks only what A and B do not share', async () => {
    // The same extra object, but stored beforehand (by an orphan commit): outside B's difference
    // from A, and harmless, as the delta's copy changes nothing.
    const tree = path.join(dir, 'present-tree');
    const { repo, delta, checksum } = await withExtraObject('present', tree);
    ostree(['commit', `--repo=${repo}`, '--orphan', tree]);
    assert.ok(objectsOf(repo).some((l) => l.includes(`${checksum.slice(2)}.file`)), 'the object is stored beforehand');
    const r = grove(['static-delta', 'apply-offline', `--repo=${repo}`, delta]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(ostree(['fsck', `--repo=${repo}`]).stdout, /no errors found/);
  });

  test('a bsdiff patch that yields other bytes than its object is refused by the store', async () => {
    const { repo, delta } = await hostile('bspatch', (p) => {
      // The bspatch operation names (offset, length) of the patch in the data; change a byte of
      // its last diff block, which bspatch adds to the old file's bytes.
      const ops = p[3];
      const at = ops.indexOf('B'.charCodeAt(0));
      assert.ok(at >= 0);
      const pos = { at: at + 1 };
      const offset = readVarint(ops, pos)!;
      const length = readVarint(ops, pos)!;
      const data = Buffer.from(p[2]);
      data[offset + length - 1] ^= 0x55;
      p[2] = data;
    });
    refused(repo, delta, /is corrupt: its content has checksum/);
  });
});
