import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cookieHeader, loadCookies } from '../../src/net/cookies.js';
import { describeTree, haveOstree, ostree, tempDir } from '../helpers.js';
import { groveAsync as groveOk, groveRun as grove } from '../interop/support.js';
import { runEnv } from '../interop/dropin-support.js';
import { startRepoServer, type TestServer } from './repo-server.js';

/**
 * A remote's cookie jar (`REPO/REMOTE.cookies.txt`) reaches the server as ostree's libcurl
 * fetcher sends it: the cookies whose domain, path and scheme match each request. And a
 * remote's `contenturl` serves the objects while its URL serves the rest.
 */

describe('cookie matching, as libcurl loads and sends a cookie file', () => {
  const now = 1_800_000_000;
  const jar = [
    '# Netscape HTTP Cookie File',
    'example.com\tFALSE\t/\tFALSE\t0\tplain\t1',
    '.example.com\tTRUE\t/repo\tFALSE\t0\tsub\t2',
    '#HttpOnly_example.com\tFALSE\t/repo/objects\tFALSE\t0\tdeep\t3',
    'example.com\tFALSE\t/\tTRUE\t0\tsecure\t4',
    `example.com\tFALSE\t/\tFALSE\t${now - 1}\texpired\t5`,
    `example.com\tFALSE\t/\tFALSE\t${now + 100}\tlater\t6`,
    'not a cookie line',
  ].join('\n');
  const cookies = loadCookies(jar, now);

  it('sends only what matches host, path and scheme, longest path first, and drops expired cookies', () => {
    assert.equal(cookieHeader(cookies, new URL('http://example.com/repo/objects/ab/cd.filez')), 'deep=3; sub=2; plain=1; later=6');
    assert.equal(cookieHeader(cookies, new URL('https://example.com/other')), 'secure=4; plain=1; later=6');
    // A subdomain gets only the include-subdomains cookie; a path that merely starts like /repo does not match it.
    assert.equal(cookieHeader(cookies, new URL('http://cdn.example.com/repo/x')), 'sub=2');
    assert.equal(cookieHeader(cookies, new URL('http://cdn.example.com/repository')), null);
    assert.equal(cookieHeader(cookies, new URL('http://example.org/')), null);
  });
});

describe('grove pull sends the remote\'s cookies; contenturl serves the objects', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let guarded: TestServer;
  let front: TestServer;
  let content: TestServer;
  let expected = '';
  const withoutCookie: string[] = [];

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(tree, 'etc', `f${i}`), `cookie ${i}\n`);
    const src = path.join(tmp.dir, 'src');
    await groveOk(['init', `--repo=${src}`, '--mode=archive']);
    await groveOk(['commit', `--repo=${src}`, '-b', 'main', tree]);
    await groveOk(['summary', `--repo=${src}`, '-u']);
    await groveOk(['checkout', `--repo=${src}`, '-U', 'main', path.join(tmp.dir, 'expected')]);
    expected = await describeTree(path.join(tmp.dir, 'expected'), { xattrs: false });
    // Every request must carry SESSION=abc (and may carry others), as a login-protected server would ask.
    guarded = await startRepoServer(src, (rel, res, req) => {
      if (/(^|; )SESSION=abc(;|$)/.test(req.headers.cookie ?? '')) return false;
      withoutCookie.push(rel);
      res.writeHead(403).end('forbidden\n');
      return true;
    });
    content = await startRepoServer(src);
    // Objects other than detached metadata are not here: only the content URL has them.
    front = await startRepoServer(src, (rel, res) => {
      if (!rel.startsWith('objects/') || rel.endsWith('.commitmeta')) return false;
      res.writeHead(404).end();
      return true;
    });
  });

  after(async () => {
    for (const s of [guarded, front, content]) await s?.close();
    await tmp.cleanup();
  });

  it('fails without the cookie and pulls everything with it', async () => {
    const repo = path.join(tmp.dir, 'pulled');
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', guarded.url]);
    const refused = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /HTTP 403/);
    await groveOk(['remote', 'add-cookie', `--repo=${repo}`, 'origin', '127.0.0.1', '/', 'SESSION', 'abc']);
    await groveOk(['remote', 'add-cookie', `--repo=${repo}`, 'origin', '127.0.0.1', '/elsewhere', 'OTHER', 'x']);
    withoutCookie.length = 0;
    const before = guarded.requests.length;
    await groveOk(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.deepEqual(withoutCookie, []);
    assert.ok(guarded.requests.length - before > 10, 'the objects came from the guarded server');
    await groveOk(['checkout', `--repo=${repo}`, '-U', 'origin:main', path.join(tmp.dir, 'out')]);
    assert.equal(await describeTree(path.join(tmp.dir, 'out'), { xattrs: false }), expected);
    await groveOk(['remote', 'summary', `--repo=${repo}`, 'origin']);
  });

  it('ostree pulls from the same server with the same jar (the server asks what ostree sends)', { skip: haveOstree() ? false : 'no ostree' }, async () => {
    const repo = path.join(tmp.dir, 'ostree-pulled');
    ostree(['init', `--repo=${repo}`, '--mode=archive']);
    ostree(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', guarded.url]);
    // The server is in this process: ostree's pulls must not block it (no spawnSync).
    assert.notEqual((await runEnv('ostree', ['pull', `--repo=${repo}`, 'origin', 'main'])).code, 0);
    ostree(['remote', 'add-cookie', `--repo=${repo}`, 'origin', '127.0.0.1', '/', 'SESSION', 'abc']);
    const r = await runEnv('ostree', ['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('objects come from contenturl, the rest from the URL', async () => {
    const repo = path.join(tmp.dir, 'split');
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', `--contenturl=${content.url}`, 'origin', front.url]);
    await groveOk(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.ok(content.requests.some((r) => r.endsWith('.filez')), 'content from the content URL');
    assert.ok(!content.requests.includes('summary') && front.requests.includes('summary'), 'the summary from the URL');
    await groveOk(['checkout', `--repo=${repo}`, '-U', 'origin:main', path.join(tmp.dir, 'split-out')]);
    assert.equal(await describeTree(path.join(tmp.dir, 'split-out'), { xattrs: false }), expected);
  });
});
