import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GROVE_BIN, groveOk, needsOstree, ostree, tempDir } from '../helpers.js';
import { Repo } from '../../src/repo/repo.js';
import { regenerateSummary } from '../../src/net/summary.js';
import { decodeSummary, readBeU64, SUMMARY_KEY } from '../../src/format/summary.js';
import { parseVariantText } from '../../src/format/gvariant/text.js';
import { glibDictOrder, gStrHash } from '../../src/format/glib-dict.js';

/**
 * The summary grove writes must be byte for byte what `ostree summary -u` writes for the same
 * refs, metadata and time: same ref order, same per-ref metadata, same (GLib hash table) order
 * of the metadata keys, with and without extra keys.
 */
describe('grove summary against ostree summary', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: string;
  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    await fs.mkdir(tree);
    await fs.writeFile(path.join(tree, 'f'), 'x');
    repo = path.join(tmp.dir, 'repo');
    ostree(['init', `--repo=${repo}`, '--mode=archive']);
    ostree(['commit', `--repo=${repo}`, '-b', 'os/x86_64/stable', '--add-metadata-string=version=41.2', `--tree=dir=${tree}`]);
    ostree(['commit', `--repo=${repo}`, '-b', 'app', '--timestamp=1999-12-31T23:59:59Z', '-s', 'old', `--tree=dir=${tree}`]);
    ostree(['commit', `--repo=${repo}`, '-b', 'Zeta_-.1/a', `--tree=dir=${tree}`]);
    // A remote ref: never part of the summary.
    const c = ostree(['rev-parse', `--repo=${repo}`, 'app']).stdout.trim();
    await fs.mkdir(path.join(repo, 'refs/remotes/origin'), { recursive: true });
    await fs.writeFile(path.join(repo, 'refs/remotes/origin/app'), `${c}\n`);
  });
  after(async () => { await tmp?.cleanup(); });

  const cases: Array<[string, string[]]> = [
    ['no extra metadata', []],
    ['a few extra keys', ['foo=\'bar\'', 'num=uint64 42', 'flag=true']],
    // Twelve keys grow GLib's hash table past 8 slots: the order comes from its rehash.
    ['twelve extra keys', Array.from({ length: 12 }, (_, i) => `key.number-${i}=${i}`)],
    ['a key that overrides a standard one', ['ostree.summary.mode=\'custom\'', 'xa.title=\'T\'']],
  ];
  for (const [name, meta] of cases) {
    it(`${name}: same bytes as ostree`, async () => {
      ostree(['summary', `--repo=${repo}`, '-u', ...meta.map((m) => `--add-metadata=${m}`)]);
      const theirs = await fs.readFile(path.join(repo, 'summary'));
      const now = readBeU64(decodeSummary(theirs).metadata, SUMMARY_KEY.lastModified)!;
      const additional = meta.map((m): [string, ReturnType<typeof parseVariantText>] => {
        const eq = m.indexOf('=');
        return [m.slice(0, eq), parseVariantText(m.slice(eq + 1))];
      });
      await regenerateSummary(await Repo.open(repo), { additional, now });
      const ours = await fs.readFile(path.join(repo, 'summary'));
      assert.equal(ours.toString('hex'), theirs.toString('hex'));
    });
  }

  it('grove summary --view prints what ostree summary --view prints', async () => {
    ostree(['summary', `--repo=${repo}`, '-u', '--add-metadata=xa.list=[1, 2]', '--add-metadata=ostree.summary.expires=uint64 123']);
    const env = { ...process.env, TZ: 'UTC' };
    const theirs = spawnSync('ostree', ['summary', `--repo=${repo}`, '--view'], { encoding: 'utf8', env }).stdout;
    const ours = spawnSync(process.execPath, [GROVE_BIN, 'summary', `--repo=${repo}`, '--view'], { encoding: 'utf8', env }).stdout;
    assert.equal(ours, theirs);
    const rawTheirs = spawnSync('ostree', ['summary', `--repo=${repo}`, '--raw'], { encoding: 'utf8', env }).stdout;
    const rawOurs = spawnSync(process.execPath, [GROVE_BIN, 'summary', `--repo=${repo}`, '--raw'], { encoding: 'utf8', env }).stdout;
    assert.equal(rawOurs, rawTheirs);
  });

  it('ostree reads the summary grove writes; a stale summary.sig is removed', async () => {
    await fs.writeFile(path.join(repo, 'summary.sig'), 'stale');
    groveOk(['summary', `--repo=${repo}`, '-u', '--add-metadata=k=\'v\'']);
    await assert.rejects(fs.access(path.join(repo, 'summary.sig')));
    const view = ostree(['summary', `--repo=${repo}`, '--view']).stdout;
    assert.match(view, /\* os\/x86_64\/stable\n {4}Latest Commit/);
    assert.match(view, /Version \(ostree.commit.version\): 41.2/);
    assert.match(view, /k: 'v'/);
    assert.doesNotMatch(view, /origin/);
  });

  it('bad --add-metadata and a missing summary are one-line errors', async () => {
    const empty = path.join(tmp.dir, 'empty');
    groveOk(['init', `--repo=${empty}`, '--mode=archive']);
    let r = spawnSync(process.execPath, [GROVE_BIN, 'summary', `--repo=${empty}`, '--view'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: .* has no summary/);
    r = spawnSync(process.execPath, [GROVE_BIN, 'summary', `--repo=${empty}`, '-u', '--add-metadata=novalue'], { encoding: 'utf8' });
    assert.match(r.stderr, /^error: --add-metadata: missing '=' in KEY=VALUE/);
    r = spawnSync(process.execPath, [GROVE_BIN, 'summary', `--repo=${empty}`, '-u', '--add-metadata=k=unquoted text'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: GVariant text "unquoted text"/);
  });
});

describe('GLib dict order model', () => {
  it('g_str_hash of ASCII and of bytes above 0x7f (signed chars, as GLib)', () => {
    // djb2 by hand would be hand computation; instead check the defining recurrence on prefixes.
    const h = (s: string) => gStrHash(s);
    assert.equal(h(''), 5381);
    assert.equal(h('ab'), (Math.imul(h('a'), 33) + 'b'.charCodeAt(0)) >>> 0);
    assert.equal(h('\u00e9'), (Math.imul((Math.imul(5381, 33) + (0xc3 - 0x100)) >>> 0, 33) + (0xa9 - 0x100)) >>> 0);
  });
  it('a replaced key keeps its place and its latest value', () => {
    const out = glibDictOrder([['a', 1], ['b', 2], ['a', 3]]);
    assert.equal(out.length, 2);
    assert.deepEqual(out.find(([k]) => k === 'a'), ['a', 3]);
  });
});

/**
 * With a collection ID, `ostree summary -u` first commits the `ostree-metadata` ref, then lists
 * its own collection's refs in the main list and every other collection's (refs/mirrors, remotes
 * with a collection-id) under `ostree.summary.collection-map`. Twin repositories, one updated by
 * each tool at the same SOURCE_DATE_EPOCH, must end with the same commit and the same bytes.
 */
describe('grove summary -u with collection refs, against ostree', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const twins: { o: string; g: string } = { o: '', g: '' };
  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    await fs.mkdir(tree);
    await fs.writeFile(path.join(tree, 'f'), 'x');
    for (const side of ['o', 'g'] as const) {
      const repo = path.join(tmp.dir, side);
      twins[side] = repo;
      ostree(['init', `--repo=${repo}`, '--mode=archive', '--collection-id=org.example.Main']);
      ostree(['commit', `--repo=${repo}`, '-b', 'os/stable', '--timestamp=@1700000000', '--add-metadata-string=version=2', tree]);
      ostree(['commit', `--repo=${repo}`, '-b', 'app', '--timestamp=@1700000001', tree]);
      const c = ostree(['rev-parse', `--repo=${repo}`, 'app']).stdout.trim();
      for (const f of ['refs/mirrors/org.example.Other/x/y', 'refs/mirrors/com.example.A/z', 'refs/mirrors/org.example.Main/mirrored', 'refs/remotes/up/r1']) {
        await fs.mkdir(path.dirname(path.join(repo, f)), { recursive: true });
        await fs.writeFile(path.join(repo, f), `${c}\n`);
      }
      ostree(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', '--collection-id=org.example.Up', 'up', 'file:///nowhere']);
    }
  });
  after(async () => { await tmp?.cleanup(); });

  it('commits the same ostree-metadata and writes the same summary bytes; --view prints the same', async () => {
    const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000100', TZ: 'UTC' };
    for (const meta of [['--add-metadata=xa.title=\'T\''], []]) {
      const o = spawnSync('ostree', ['summary', `--repo=${twins.o}`, '-u', ...meta], { encoding: 'utf8', env });
      assert.equal(o.status, 0, o.stderr);
      const g = spawnSync(process.execPath, [GROVE_BIN, 'summary', `--repo=${twins.g}`, '-u', ...meta], { encoding: 'utf8', env });
      assert.equal(g.status, 0, g.stderr);
      const metaRef = (r: string) => ostree(['rev-parse', `--repo=${r}`, 'ostree-metadata']).stdout.trim();
      assert.equal(metaRef(twins.g), metaRef(twins.o));
      // The same second is not guaranteed across two processes: write grove's with ostree's time.
      const theirs = await fs.readFile(path.join(twins.o, 'summary'));
      const now = readBeU64(decodeSummary(theirs).metadata, SUMMARY_KEY.lastModified)!;
      const additional = meta.map((m): [string, ReturnType<typeof parseVariantText>] => [m.slice('--add-metadata='.length, m.indexOf('=', 15)), parseVariantText(m.slice(m.indexOf('=', 15) + 1))]);
      await regenerateSummary(await Repo.open(twins.g), { additional, now });
      assert.equal((await fs.readFile(path.join(twins.g, 'summary'))).toString('hex'), theirs.toString('hex'));
    }
    const view = (cmd: string, args: string[]) => spawnSync(cmd, [...args, 'summary', '--view'], { encoding: 'utf8', env }).stdout;
    assert.equal(view(process.execPath, [GROVE_BIN, `--repo=${twins.g}`]), view('ostree', [`--repo=${twins.o}`]));
    assert.equal(ostree(['fsck', `--repo=${twins.g}`]).code, 0);
  });
});
