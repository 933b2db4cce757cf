import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { GROVE_BIN, grove, tempDir } from '../helpers.js';

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

  it('leaves a bundle older than tsc’s modules alone, so a developer’s tsc run takes effect', async (t) => {
    const { dir, cleanup } = await tempDir();
    t.after(cleanup);
    const bundle = path.join(dir, 'cli.cjs');
    const modules = path.join(dir, 'main.js');
    fs.copyFileSync(launcher.CLI_FILES.bundle, bundle);
    fs.writeFileSync(modules, '');
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(bundle, past, past);
    assert.equal(launcher.loadBundle({ bundle, codeCache: null, modules }), null);
    fs.utimesSync(modules, new Date(past.getTime() - 60_000), new Date(past.getTime() - 60_000));
    assert.equal(launcher.loadBundle({ bundle, codeCache: null, modules })?.cache, 'absent');
    assert.equal(launcher.loadBundle({ bundle: path.join(dir, 'missing.cjs'), codeCache: null, modules }), null);
  });

  it('says grove, not the name of its script, in what it prints', () => {
    const r = grove(['rev-parse', '--repo=/nonexistent/repo', 'main']);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /grove\.cjs|main\.js/);
  });
});
