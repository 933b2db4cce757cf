import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describeTree, tempDir } from '../helpers.js';
import { groveAsync as groveOk, groveRun as grove } from '../interop/support.js';

/**
 * `grove pull` over https from a server whose certificate no system trusts: refused at once
 * with one line naming the certificate problem, and accepted with the remote's `tls-ca-path`
 * or `tls-permissive`, ostree's options for this.
 */


describe('grove pull over https', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let server: https.Server;
  let url: string;
  /** Answers only clients that present the client certificate. */
  let mtls: https.Server;
  let mtlsUrl: string;
  let clientCert: string;
  let clientKey: string;
  let cert: string;
  let expected: string;

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'usr/lib'), { recursive: true });
    for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(tree, `usr/lib/f${i}`), `content ${i}\n`.repeat(i * 20));
    fs.symlinkSync('lib/f1', path.join(tree, 'usr/link'));
    const src = path.join(tmp.dir, 'src');
    await groveOk(['init', `--repo=${src}`, '--mode=archive']);
    await groveOk(['commit', `--repo=${src}`, '-b', 'os/main', tree]);
    await groveOk(['checkout', `--repo=${src}`, '-U', 'os/main', path.join(tmp.dir, 'expected')]);
    expected = await describeTree(path.join(tmp.dir, 'expected'), { xattrs: false });

    const key = path.join(tmp.dir, 'key.pem');
    cert = path.join(tmp.dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-subj', '/CN=grove test', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'], { stdio: 'ignore' });
    server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      const p = path.join(src, decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname));
      if (!p.startsWith(`${src}/`) || !fs.existsSync(p) || !fs.statSync(p).isFile()) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(fs.readFileSync(p));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;

    clientKey = path.join(tmp.dir, 'client-key.pem');
    clientCert = path.join(tmp.dir, 'client-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', clientKey, '-out', clientCert,
      '-subj', '/CN=grove client', '-days', '2'], { stdio: 'ignore' });
    mtls = https.createServer({
      key: fs.readFileSync(key), cert: fs.readFileSync(cert), ca: fs.readFileSync(clientCert), requestCert: true, rejectUnauthorized: true,
    }, server.listeners('request')[0] as Parameters<typeof https.createServer>[1]);
    await new Promise<void>((r) => mtls.listen(0, '127.0.0.1', r));
    mtlsUrl = `https://127.0.0.1:${(mtls.address() as AddressInfo).port}/`;
  });

  after(async () => {
    for (const s of [server, mtls]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await tmp.cleanup();
  });

  async function freshRepo(name: string, ...set: string[]): Promise<string> {
    return repoFor(url, name, ...set);
  }

  async function repoFor(serverUrl: string, name: string, ...set: string[]): Promise<string> {
    const repo = path.join(tmp.dir, name);
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', ...set.map((s) => `--set=${s}`), 'origin', serverUrl]);
    return repo;
  }

  it('an untrusted certificate: one line naming it, at once, and no ref', async () => {
    const repo = await freshRepo('untrusted');
    const started = Date.now();
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'os/main']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), /^[^\n]*TLS: [^\n]*self-signed certificate[^\n]*$/);
    // Not retried with back-off: the same certificate fails again.
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    assert.equal(fs.existsSync(path.join(repo, 'refs/remotes/origin/os/main')), false);
  });

  for (const [how, set] of [['tls-ca-path', (c: string) => `tls-ca-path=${c}`], ['tls-permissive', () => 'tls-permissive=true']] as const) {
    it(`with ${how} the pull succeeds and the checkout equals the source's`, async () => {
      const repo = await freshRepo(how, set(cert));
      await groveOk(['pull', `--repo=${repo}`, 'origin', 'os/main']);
      const out = path.join(tmp.dir, `${how}-checkout`);
      await groveOk(['checkout', `--repo=${repo}`, '-U', 'origin:os/main', out]);
      assert.equal(await describeTree(out, { xattrs: false }), expected);
    });
  }

  it('a tls-ca-path that cannot be read is named', async () => {
    const repo = await freshRepo('missing-ca', 'tls-ca-path=/nonexistent/ca.pem');
    const r = await grove(['pull', `--repo=${repo}`, 'origin', 'os/main']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), /^[^\n]*remote origin: cannot read tls-ca-path '\/nonexistent\/ca\.pem': ENOENT[^\n]*$/);
  });

  it('a server that wants a client certificate gets the one tls-client-cert-path names; without it the pull fails at once', async () => {
    const without = await repoFor(mtlsUrl, 'no-client-cert', `tls-ca-path=${cert}`);
    const r = await grove(['pull', `--repo=${without}`, 'origin', 'os/main']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), /^[^\n]*TLS: [^\n]*$/);
    const withCert = await repoFor(mtlsUrl, 'client-cert', `tls-ca-path=${cert}`, `tls-client-cert-path=${clientCert}`, `tls-client-key-path=${clientKey}`);
    await groveOk(['pull', `--repo=${withCert}`, 'origin', 'os/main']);
    const out = path.join(tmp.dir, 'client-cert-checkout');
    await groveOk(['checkout', `--repo=${withCert}`, '-U', 'origin:os/main', out]);
    assert.equal(await describeTree(out, { xattrs: false }), expected);
  });
});
