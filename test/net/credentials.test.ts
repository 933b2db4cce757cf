import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { needsOstree, ostree, tempDir } from '../helpers.js';
import { groveAsync as groveOk, groveRun as grove, run } from '../interop/support.js';
import { startRepoServer, type TestServer } from './repo-server.js';
import { redactUrl } from '../../src/net/redact-url.js';

/**
 * Credentials in a remote's URL (`http://user:password@host/repo`): sent as HTTP Basic
 * authentication, as libcurl sends them for ostree, and never printed in an error, whatever
 * fails. `remote show-url` and `remote list -u` print the URL as configured, as ostree does.
 */

const USER = 'alice';
const PASS = 's3cret';
/**
 * `s3cr@t`, percent-encoded as a URL must carry it: grove decodes it, as libcurl does a URL's
 * user info; ostree 2022.7 hands libcurl the password still encoded, so it is not compared.
 */
const ENCODED_PASS = 's3cr%40t';
const SECRETS = ['s3cr', '%40t', `${USER}:`];

function noSecrets(text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `'${s}' appears in: ${text}`);
}

describe('credentials in remote URLs', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let src: string;
  let guarded: TestServer;
  const seen: Array<{ auth: string | undefined; host: string | undefined }> = [];

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(tree, 'etc', `f${i}`), `secret ${i}\n`.repeat(50));
    src = path.join(tmp.dir, 'src');
    await groveOk(['init', `--repo=${src}`, '--mode=archive']);
    await groveOk(['commit', `--repo=${src}`, '-b', 'main', tree]);
    await groveOk(['summary', `--repo=${src}`, '-u']);
    const accepted = [`${USER}:${PASS}`, `${USER}:s3cr@t`].map((c) => `Basic ${Buffer.from(c).toString('base64')}`);
    guarded = await startRepoServer(src, (_rel, res, req) => {
      seen.push({ auth: req.headers.authorization, host: req.headers.host });
      if (accepted.includes(req.headers.authorization ?? '')) return false;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="grove"' }).end();
      return true;
    });
  });
  after(async () => {
    await guarded?.close();
    await tmp?.cleanup();
  });

  const withCreds = (url: string, pass = PASS) => url.replace('http://', `http://${USER}:${pass}@`);
  let n = 0;
  async function freshRepo(url: string): Promise<string> {
    const repo = path.join(tmp.dir, `dst-${n++}`);
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', url]);
    return repo;
  }

  it('a server that requires Basic authentication: the pull sends it, from every thread; the Host header has no user info', async () => {
    const repo = await freshRepo(withCreds(guarded.url));
    seen.length = 0;
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.equal(r.code, 0, r.stderr);
    noSecrets(r.stdout + r.stderr);
    assert.ok(seen.length > 10);
    assert.ok(seen.every((s) => s.auth?.startsWith('Basic ') && s.host === new URL(guarded.url).host), JSON.stringify(seen));
    assert.equal(ostree(['rev-parse', `--repo=${repo}`, 'origin:main']).stdout.trim(), ostree(['rev-parse', `--repo=${src}`, 'main']).stdout.trim());
    // A percent-encoded password is sent decoded.
    const encoded = await freshRepo(withCreds(guarded.url, ENCODED_PASS));
    await groveOk(['pull', `--repo=${encoded}`, 'origin', 'main']);
    // ostree (libcurl) authenticates the same way with the same URL.
    const o = path.join(tmp.dir, `o-${n++}`);
    ostree(['init', `--repo=${o}`, '--mode=bare-user']);
    ostree(['remote', 'add', `--repo=${o}`, '--no-gpg-verify', 'origin', withCreds(guarded.url)]);
    const or = await run('ostree', ['pull', `--repo=${o}`, 'origin', 'main']);
    assert.equal(or.code, 0, or.stderr);
    // Both print the URL as configured where the user asks for it.
    assert.equal((await groveOk(['remote', 'show-url', `--repo=${repo}`, 'origin'])), ostree(['remote', 'show-url', `--repo=${o}`, 'origin']).stdout);
  });

  it('a wrong password, a missing repository, a refused connection: errors name the remote without its credentials', async () => {
    // 401: the wrong password.
    let repo = await freshRepo(withCreds(guarded.url, 'wr%40ng'));
    let r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: fetching the config of remote origin \(http:\/\/\*\*\*@127\.0\.0\.1:\d+\/\) from http:\/\/\*\*\*@127\.0\.0\.1:\d+\/: HTTP 401\n$/);
    assert.ok(!r.stderr.includes('wr%40ng') && !r.stderr.includes('wr@ng'));
    noSecrets(r.stderr);

    // 404: no repository there.
    const empty = await startRepoServer(path.join(tmp.dir, 'nothing'));
    try {
      repo = await freshRepo(withCreds(empty.url));
      r = await grove(['pull', `--repo=${repo}`, 'origin', 'main']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: remote origin \(http:\/\/\*\*\*@127\.0\.0\.1:\d+\/\) has no config: not an ostree repository\n$/);
      noSecrets(r.stderr);
    } finally {
      await empty.close();
    }

    // Connection refused: a port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    repo = await freshRepo(withCreds(`http://127.0.0.1:${port}/repo`));
    r = await grove(['pull', `--repo=${repo}`, '--network-retries=0', 'origin', 'main']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: fetching the config of remote origin \(http:\/\/\*\*\*@127\.0\.0\.1:\d+\/repo\) from http:\/\/\*\*\*@127\.0\.0\.1:\d+\/repo\/: ECONNREFUSED/);
    noSecrets(r.stderr);
    r = await grove(['remote', 'summary', `--repo=${repo}`, 'origin']);
    assert.equal(r.code, 1);
    noSecrets(r.stderr);
    // A URL of another scheme is written as ostree writes it, and its pull refused (in ostree's
    // words) without echoing its credentials, which ostree does echo.
    r = await grove(['remote', 'add', `--repo=${repo}`, 'ftp', `ftp://${USER}:${PASS}@example.org/`]);
    assert.equal(r.code, 0);
    r = await grove(['pull', `--repo=${repo}`, 'ftp', 'main']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: Invalid URI scheme in ftp://***@example.org/\n');
  });

  it('redactUrl drops the whole user info, up to its last @, and nothing else', () => {
    assert.equal(redactUrl('http://u:p@h:1/a?b#c'), 'http://***@h:1/a?b#c');
    assert.equal(redactUrl('https://TOKEN@h/'), 'https://***@h/');
    assert.equal(redactUrl('http://u:p@ss@h/x@y'), 'http://***@h/x@y');
    assert.equal(redactUrl('http://h/a@b'), 'http://h/a@b');
    assert.equal(redactUrl('file:///srv/repo'), 'file:///srv/repo');
    assert.equal(redactUrl('not a url'), 'not a url');
  });
});
