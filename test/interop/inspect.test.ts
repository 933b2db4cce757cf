import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, rootfsEntries } from '../../fixtures/trees/build.js';
import { GROVE_BIN, groveOk, haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { commitBoth, initRepos } from './support.js';

/**
 * Inspection commands against ostree, byte for byte: every command runs four ways — grove and
 * ostree, each on grove's repository and on ostree's (the same history, made by each tool) —
 * and all four must print what ostree prints for its own repository, with the same exit status.
 */

interface Raw { code: number; stdout: Buffer }

function runRaw(cmd: string, args: string[]): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(chunks) }));
  });
}

const REF = 'os/x86_64/main';
const DEVEL = 'os/x86_64/devel';

describe('inspection output matches ostree byte for byte', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let repos = { g: '', o: '' };
  const commits: string[] = [];

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir());
    const tree = path.join(dir, 'tree');
    await buildTree(tree, rootfsEntries());
    repos = initRepos(dir, 'archive');
    const c1 = await commitBoth(repos, ['-b', REF, '-s', 'First commit', '-m', 'Body line 1\n\nBody line 3 — ünïcödé', '--add-metadata-string=version=1.0', '--timestamp=@1600000000', tree]);
    await fs.writeFile(path.join(tree, 'usr/lib/os-release'), 'ID=grove\nVERSION_ID=2\n');
    await fs.rm(path.join(tree, 'usr/share/doc'), { recursive: true });
    const c2 = await commitBoth(repos, ['-b', REF, '-s', 'Second', '--timestamp=2021-06-01T12:34:56Z', tree]);
    const c3 = await commitBoth(repos, ['-b', DEVEL, '-s', 'Zweite Zeile: grün', '--add-metadata-string=version=2.0~beta', '--timestamp=@1700000000', tree]);
    for (const c of [c1, c2, c3]) assert.equal(c.g, c.o);
    commits.push(c1.o, c2.o, c3.o);
    groveOk(['refs', `--repo=${repos.g}`, `--create=origin:${REF}`, REF]);
    ostree(['refs', `--repo=${repos.o}`, `--create=origin:${REF}`, REF]);
  });

  after(async () => {
    await cleanup();
  });

  /** Runs `args` four ways; each output must equal ostree's on its own repository. */
  async function same(args: string[], opts: { sortLines?: boolean; mustFail?: boolean } = {}): Promise<Buffer> {
    const a = (repo: string) => [args[0]!, `--repo=${repo}`, ...args.slice(1)];
    const [ref, oOnG, gOnO, gOnG] = await Promise.all([
      runRaw('ostree', a(repos.o)),
      runRaw('ostree', a(repos.g)),
      runRaw(process.execPath, [GROVE_BIN, ...a(repos.o)]),
      runRaw(process.execPath, [GROVE_BIN, ...a(repos.g)]),
    ]);
    const norm = (r: Raw) => (opts.sortLines ? r.stdout.toString('utf8').split('\n').sort().join('\n') : r.stdout.toString('latin1'));
    const what = args.join(' ');
    if (opts.mustFail) {
      assert.notEqual(ref.code, 0, `ostree ${what} was expected to fail`);
      for (const [who, r] of [['ostree on grove\'s repository', oOnG], ['grove on ostree\'s repository', gOnO], ['grove on its own repository', gOnG]] as const) {
        assert.notEqual(r.code, 0, `${who}: ${what} succeeded where ostree fails`);
      }
      return ref.stdout;
    }
    assert.equal(ref.code, 0, `ostree ${what} failed`);
    assert.equal(norm(oOnG), norm(ref), `ostree ${what}: grove's repository lists differently`);
    assert.equal(gOnO.code, 0, `grove ${what} on ostree's repository failed`);
    assert.equal(norm(gOnO), norm(ref), `grove ${what} differs from ostree on ostree's repository`);
    assert.equal(gOnG.code, 0, `grove ${what} on grove's repository failed`);
    assert.equal(norm(gOnG), norm(ref), `grove ${what} differs from ostree on grove's repository`);
    return ref.stdout;
  }

  test('log', async () => {
    const out = await same(['log', REF]);
    assert.match(out.toString(), /Version: 1\.0/);
    await same(['log', DEVEL]);
    await same(['log', commits[0]!]);
  });

  test('show (ref, REF^, checksum, unicode subject, version)', async () => {
    await same(['show', REF]);
    await same(['show', `${REF}^`]);
    await same(['show', commits[0]!]);
    await same(['show', DEVEL]);
    await same(['show', `origin:${REF}`]);
  });

  test('ls plain, -R, -C, -d and with paths', async () => {
    await same(['ls', REF]);
    await same(['ls', '-R', REF]);
    await same(['ls', '-C', REF, '/usr/bin', '/etc']);
    await same(['ls', '-d', REF, '/usr', '/etc/localtime']);
    await same(['ls', '-d', '-C', REF, '/']);
    await same(['ls', '-R', '-C', REF]);
    await same(['ls', '-R', '-C', `${REF}^`]);
    await same(['ls', REF, '/usr/share/names/with space.txt', '/usr/share/zoneinfo', '/bin', '/usr/bin/su']);
    await same(['ls', '-R', REF, '/usr/share', '/home']);
    await same(['ls', '-R', '-d', DEVEL, '/var']);
    await same(['ls', 'origin:' + REF, '/usr/share/dir with space']);
  });

  test('refs (ostree lists in hash-table order: compared as sets)', async () => {
    const out = await same(['refs'], { sortLines: true });
    assert.deepEqual(out.toString().split('\n').filter(Boolean).sort(), [`origin:${REF}`, DEVEL, REF].sort());
  });

  test('refs PREFIX prints names relative to the prefix, --list keeps it, REMOTE: lists a remote', async () => {
    await same(['refs', 'os'], { sortLines: true });
    await same(['refs', '--list', 'os'], { sortLines: true });
    await same(['refs', 'origin:'], { sortLines: true });
    await same(['refs', 'nonexistent'], { sortLines: true });
  });

  test('rev-parse (ref, REF^, checksum, REMOTE:REF)', async () => {
    assert.equal((await same(['rev-parse', REF])).toString(), `${commits[1]}\n`);
    assert.equal((await same(['rev-parse', `${REF}^`])).toString(), `${commits[0]}\n`);
    await same(['rev-parse', commits[2]!]);
    await same(['rev-parse', `origin:${REF}`]);
    await same(['rev-parse', `${REF}^^`], { mustFail: true });
    await same(['rev-parse', 'no/such/ref'], { mustFail: true });
  });

  test('cat (text, names with spaces, unreadable, empty, binary multi-megabyte)', async () => {
    await same(['cat', REF, '/usr/lib/os-release', '/usr/share/names/with space.txt']);
    await same(['cat', `${REF}^`, '/usr/lib/os-release']);
    await same(['cat', REF, '/etc/gshadow', '/etc/empty-with-xattr']);
    const big = await same(['cat', REF, '/usr/lib/big.bin']);
    assert.equal(big.length, 6 << 20);
    await same(['cat', REF, '/usr/share/dir with space/ünïcödé név.txt']);
  });

  // Last: it deletes the first commit from both repositories.
  test('log stops at a parent that is not in the repository', async () => {
    for (const repo of [repos.g, repos.o]) await fs.rm(path.join(repo, 'objects', commits[0]!.slice(0, 2), `${commits[0]!.slice(2)}.commit`));
    const out = await same(['log', REF]);
    assert.match(out.toString(), /<< History beyond this commit not fetched >>\n$/);
  });

  test('errors where ostree errs: missing paths, directories to cat, unknown refs', async () => {
    await same(['ls', REF, '/no/such/path'], { mustFail: true });
    await same(['cat', REF, '/usr'], { mustFail: true });
    await same(['cat', REF, '/missing'], { mustFail: true });
    await same(['show', 'no/such/ref'], { mustFail: true });
    await same(['log', 'no/such/ref'], { mustFail: true });
  });
});
