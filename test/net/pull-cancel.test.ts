import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers.js';
import { groveRun as grove } from '../interop/support.js';
import { startRepoServer, type TestServer } from './repo-server.js';

/**
 * When one content object fails, the worker threads stop starting fetches: a pull of 600 objects
 * whose first content request fails ends after a few dozen more requests (those in flight), not
 * after fetching the rest.
 */


describe('a failed pull stops fetching', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let server: TestServer;
  let failed = '';

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    for (let d = 0; d < 6; d++) {
      fs.mkdirSync(path.join(tree, `d${d}`), { recursive: true });
      for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(tree, `d${d}`, `f${i}`), `file ${d}/${i}\n`);
    }
    const src = path.join(tmp.dir, 'src');
    for (const args of [['init', `--repo=${src}`, '--mode=archive'], ['commit', `--repo=${src}`, '-b', 'main', tree]]) {
      const r = await grove(args);
      assert.equal(r.code, 0, r.stderr);
    }
    // The first content object asked for is missing; every other answer takes 20 ms, so the
    // failure is known long before the rest could have been fetched.
    server = await startRepoServer(src, (rel, res) => {
      if (!rel.endsWith('.filez')) return false;
      if (failed === '') {
        failed = rel;
        res.writeHead(404).end();
        return true;
      }
      setTimeout(() => {
        const body = fs.readFileSync(path.join(src, rel));
        res.writeHead(200, { 'content-length': body.length }).end(body);
      }, 20);
      return true;
    });
  });

  after(async () => {
    await server.close();
    await tmp.cleanup();
  });

  it('names the missing object, moves no ref, and makes few requests after it', async () => {
    const repo = path.join(tmp.dir, 'dst');
    assert.equal((await grove(['init', `--repo=${repo}`, '--mode=bare-user'])).code, 0);
    assert.equal((await grove(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', server.url])).code, 0);
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.notEqual(r.code, 0);
    const checksum = failed.replace(/^objects\/(..)\/(.{62})\.filez$/, '$1$2');
    assert.match(r.stderr.trim(), new RegExp(`^[^\\n]*file object ${checksum} is missing from remote origin[^\\n]*$`));
    assert.equal(fs.existsSync(path.join(repo, 'refs/remotes/origin/main')), false);
    const content = server.requests.filter((p) => p.endsWith('.filez')).length;
    assert.ok(content < 150, `${content} content requests of 600 objects after the first one failed`);
  });
});
