import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { GROVE_BIN, grove, groveOk, tempDir } from '../helpers.js';

/** Runs the bin with its stdout a pipe whose reader is gone from the start, as in `grove … | true`. */
function withClosedReader(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GROVE_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** The bin (src/cli/grove.cts): the bundle with its code cache, tsc's modules when the bundle is stale. */
const launcher = createRequire(import.meta.url)(GROVE_BIN) as typeof import('../../src/cli/grove.cjs');

describe('the bin', () => {
  it('runs the bundle the build made, and V8 accepts the code cache the build trained', () => {
    const loaded = launcher.loadBundle();
    assert.ok(loaded, 'the build left no bundle, or one older than tsc’s modules');
    assert.equal(loaded.cache, 'accepted');
    assert.equal(typeof loaded.main, 'function');
  });

  it('compiles the bundle anew when the code cache is not V8’s, and without one', async (t) => {
    const { dir, cleanup } = await tempDir();
    t.after(cleanup);
    const garbage = path.join(dir, 'cli.cache');
    fs.writeFileSync(garbage, Buffer.alloc(4096, 7));
    assert.equal(launcher.loadBundle({ ...launcher.CLI_FILES, codeCache: garbage })?.cache, 'rejected');
    assert.equal(launcher.loadBundle({ ...launcher.CLI_FILES, codeCache: path.join(dir, 'none') })?.cache, 'absent');
  });

  it('in a git checkout, leaves a bundle older than tsc’s modules alone, so a developer’s tsc run takes effect; elsewhere uses it', async (t) => {
    const { dir, cleanup } = await tempDir();
    t.after(cleanup);
    const bundle = path.join(dir, 'cli.cjs');
    const modules = path.join(dir, 'main.js');
    const gitDir = path.join(dir, '.git');
    fs.mkdirSync(gitDir);
    fs.copyFileSync(launcher.CLI_FILES.bundle, bundle);
    fs.writeFileSync(modules, '');
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(bundle, past, past);
    assert.equal(launcher.loadBundle({ bundle, codeCache: null, modules, gitDir }), null);
    // An installed package: npm unpacked its files in any order, and there is no .git.
    assert.equal(launcher.loadBundle({ bundle, codeCache: null, modules, gitDir: path.join(dir, 'no-git') })?.cache, 'absent');
    fs.utimesSync(modules, new Date(past.getTime() - 60_000), new Date(past.getTime() - 60_000));
    assert.equal(launcher.loadBundle({ bundle, codeCache: null, modules, gitDir })?.cache, 'absent');
    assert.equal(launcher.loadBundle({ bundle: path.join(dir, 'missing.cjs'), codeCache: null, modules, gitDir }), null);
  });

  it('says grove, not the name of its script, in what it prints', () => {
    const r = grove(['rev-parse', '--repo=/nonexistent/repo', 'main']);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /grove\.cjs|main\.js/);
  });

  it('goes on, as ostree does, when the reader of its output has gone: `commit … | true` still commits', async (t) => {
    const { dir, cleanup } = await tempDir();
    t.after(cleanup);
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'big'), Buffer.alloc(1 << 20, 'x'));
    const repo = `--repo=${path.join(dir, 'repo')}`;
    groveOk(['init', repo, '--mode=archive']);
    const committed = await withClosedReader(['commit', repo, '-b', 'main', tree]);
    assert.deepEqual(committed, { code: 0, stderr: '' });
    assert.match(groveOk(['rev-parse', repo, 'main']), /^[0-9a-f]{64}\n$/);
    // A megabyte: far more than a pipe holds, so the writes fail for certain.
    assert.deepEqual(await withClosedReader(['cat', repo, 'main', '/big']), { code: 0, stderr: '' });
  });
});
