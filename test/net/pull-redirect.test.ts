import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describeTree, tempDir } from '../helpers.js';
import { groveAsync as groveOk, groveRun as grove } from '../interop/support.js';
import { startRepoServer, type TestServer } from './repo-server.js';

/**
 * Redirects, which ostree follows through libcurl: a front server that sends every object to a
 * mirror on another origin, and one that redirects in a circle.
 */


describe('grove pull through redirects', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let mirror: TestServer;
  let front: TestServer;
  let circle: TestServer;
  let expected: string;

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(tree, 'etc', `f${i}`), `redirected ${i}\n`);
    const src = path.join(tmp.dir, 'src');
    await groveOk(['init', `--repo=${src}`, '--mode=archive']);
    await groveOk(['commit', `--repo=${src}`, '-b', 'main', tree]);
    await groveOk(['checkout', `--repo=${src}`, '-U', 'main', path.join(tmp.dir, 'expected')]);
    expected = await describeTree(path.join(tmp.dir, 'expected'), { xattrs: false });
    mirror = await startRepoServer(src);
    front = await startRepoServer(src, (rel, res) => {
      if (rel.startsWith('moved/')) {
        // A second hop, to the mirror.
        res.writeHead(302, { location: `${mirror.url}${rel.slice('moved/'.length)}` }).end();
        return true;
      }
      if (!rel.startsWith('objects/')) return false;
      // Content straight to the mirror (another origin); metadata first to a relative path here.
      const to = rel.endsWith('.filez') ? `${mirror.url}${rel}` : `/moved/${rel}`;
      res.writeHead(rel.endsWith('.filez') ? 302 : 301, { location: to }).end('moved\n');
      return true;
    });
    circle = await startRepoServer(src, (rel, res) => {
      if (!rel.startsWith('objects/')) return false;
      res.writeHead(307, { location: `/${rel}` }).end();
      return true;
    });
  });

  after(async () => {
    for (const s of [mirror, front, circle]) await s.close();
    await tmp.cleanup();
  });

  it('follows 301 and 302, relative and to another origin; the checkout equals the source', async () => {
    const repo = path.join(tmp.dir, 'followed');
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', front.url]);
    await groveOk(['pull', `--repo=${repo}`, 'origin', 'main']);
    await groveOk(['checkout', `--repo=${repo}`, '-U', 'origin:main', path.join(tmp.dir, 'out')]);
    assert.equal(await describeTree(path.join(tmp.dir, 'out'), { xattrs: false }), expected);
    assert.ok(mirror.requests.some((r) => r.endsWith('.filez')), 'content came from the mirror');
  });

  it('a redirect loop is one line naming the object, and no ref', async () => {
    const repo = path.join(tmp.dir, 'circle');
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', circle.url]);
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), /^[^\n]*fetching (commit|dirtree|dirmeta) object [0-9a-f]{64} from http:\/\/127\.0\.0\.1:\d+\/: more than 5 redirects[^\n]*$/);
    assert.equal(fs.existsSync(path.join(repo, 'refs/remotes/origin/main')), false);
  });
});
