import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Repo } from '../../src/repo/repo.js';
import { traverse } from '../../src/store/traverse.js';
import { pushTo } from '../../src/push/push.js';
import { generateKeyPair as generateEd25519KeyPair } from '../../src/sign/ed25519.js';
import { describeTree, groveOk, makeGpgKey, needsOstree, ostree, tempDir } from '../helpers.js';
import { groveRun, ostreeAsync } from '../interop/support.js';
import { ALL_TOKEN, X86_TOKEN, builderCommit, lackingOnServer, smallTree, startReceiver } from './support.js';

/**
 * `grove push` into `grove serve --receive`: what lands is what the builder committed, under the
 * same checksum, fsck clean for the real ostree and pullable by it; an update sends only what
 * the server lacks; refs move compare-and-swap, within the token's prefixes.
 */
describe('grove push', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('grove-push-')));
  after(() => cleanup());

  /** The real ostree pulls `ref` from the in-process server (asynchronously: the server must go on answering). */
  const pullAndCheckout = async (server: string, url: string, ref: string, name: string, remoteArgs: string[] = ['--no-gpg-verify']) => {
    const client = path.join(dir, `${name}-client`);
    ostree(['init', `--repo=${client}`, '--mode=bare-user']);
    ostree(['remote', 'add', `--repo=${client}`, ...remoteArgs, 'origin', url]);
    await ostreeAsync(['pull', `--repo=${client}`, 'origin', ref]);
    const out = path.join(dir, `${name}-out`);
    ostree(['checkout', `--repo=${client}`, '-U', '-C', `origin:${ref}`, out]);
    assert.equal(ostree(['fsck', `--repo=${server}`]).code, 0);
    return out;
  };

  it('publishes an archive builder\'s commit under its checksum; ostree fsck is clean and ostree pull gets the same tree', async () => {
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'a'));
    try {
      const builder = path.join(dir, 'a-builder');
      const commit = await builderCommit(builder, 'archive', 'os/x86_64/main', path.join(dir, 'a-tree'), smallTree(0, { big: true }));
      const r = await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^os\/x86_64\/main: \(none\) -> [0-9a-f]{12}\n\d+ of \d+ objects sent/);
      assert.equal(fs.readFileSync(path.join(server, 'refs/heads/os/x86_64/main'), 'utf8').trim(), commit);
      // The summary names the new ref: ostree pulls by it.
      assert.match(ostree(['summary', `--repo=${server}`, '--view']).stdout, /\* os\/x86_64\/main/);
      const out = await pullAndCheckout(server, url, 'os/x86_64/main', 'a');
      const mine = path.join(dir, 'a-mine');
      groveOk(['checkout', `--repo=${builder}`, '-U', 'os/x86_64/main', mine]);
      assert.equal(await describeTree(out, { xattrs: false }), await describeTree(mine, { xattrs: false }));
    } finally {
      await srv.close();
    }
  });

  it('an update sends only the objects the server lacks, and their bytes', async () => {
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'b'));
    try {
      const builder = path.join(dir, 'b-builder');
      const tree = path.join(dir, 'b-tree');
      const c1 = await builderCommit(builder, 'archive', 'os/x86_64/main', tree, smallTree(0, { big: true }));
      assert.equal((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url])).code, 0);
      const c2 = await builderCommit(builder, 'archive', 'os/x86_64/main', tree, smallTree(1, { big: true }));
      const expected = await lackingOnServer(builder, server, c2);
      const b = await Repo.open(builder);
      const old = await traverse(b, [c1]);
      const changed = [...(await traverse(b, [c2]))].filter((k) => !old.has(k));
      assert.equal(expected.count, changed.length);
      const r = await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, '--json', url]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { refs: Array<{ ref: string; status: string; server: string; commit: string }>; objects: { sent: number; bytes: number; missing: number } };
      assert.deepEqual(j.refs, [{ ref: 'os/x86_64/main', status: 'moved', server: c1, commit: c2 }]);
      assert.equal(j.objects.sent, expected.count);
      assert.equal(j.objects.bytes, expected.bytes);
      // Pushing again moves nothing and sends nothing.
      const again = JSON.parse((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, '--json', url])).stdout) as typeof j;
      assert.equal(again.refs[0]!.status, 'unchanged');
      assert.equal(again.objects.sent, 0);
    } finally {
      await srv.close();
    }
  });

  it('a bare-user builder\'s GPG-signed commit arrives with its signature; the server signs the summary; ostree verifies both', async () => {
    const gpgHome = path.join(dir, 'gpg');
    fs.mkdirSync(gpgHome, { mode: 0o700 });
    const key = makeGpgKey(gpgHome, 'builder');
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'c'), { sign: { gpg: [key.id], gpgHomedir: gpgHome } });
    try {
      const builder = path.join(dir, 'c-builder');
      const commit = await builderCommit(builder, 'bare-user', 'os/x86_64/main', path.join(dir, 'c-tree'), smallTree(2, { big: true }), [`--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`]);
      const r = await groveRun(['push', `--repo=${builder}`, `--token=${ALL_TOKEN}`, url, 'os/x86_64/main']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(fs.existsSync(path.join(server, 'summary.sig')));
      const out = await pullAndCheckout(server, url, 'os/x86_64/main', 'c', [`--gpg-import=${key.pub}`, '--set=gpg-verify-summary=true']);
      assert.match(ostree(['show', `--repo=${path.join(dir, 'c-client')}`, commit]).stdout, /Good signature/);
      const mine = path.join(dir, 'c-mine');
      groveOk(['checkout', `--repo=${builder}`, '-U', 'os/x86_64/main', mine]);
      assert.equal(await describeTree(out, { xattrs: false }), await describeTree(mine, { xattrs: false }));
    } finally {
      await srv.close();
    }
  });

  it('refuses a ref another builder moved elsewhere, unless --force; a configured remote\'s push-token is used and REMOTE:REF records what the server has', async () => {
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'd'));
    try {
      const one = path.join(dir, 'd-one');
      const two = path.join(dir, 'd-two');
      const c1 = await builderCommit(one, 'archive', 'os/x86_64/main', path.join(dir, 'd-tree'), smallTree(3));
      groveOk(['remote', 'add', `--repo=${one}`, '--no-gpg-verify', `--set=push-token=${X86_TOKEN}`, 'farm', url]);
      assert.equal((await groveRun(['push', `--repo=${one}`, 'farm'])).code, 0);
      assert.equal(groveOk(['rev-parse', `--repo=${one}`, 'farm:os/x86_64/main']).trim(), c1);
      // Builder two never saw c1: its commit does not build on it.
      const c2 = await builderCommit(two, 'archive', 'os/x86_64/main', path.join(dir, 'd-tree'), smallTree(4));
      const r = await groveRun(['push', `--repo=${two}`, url]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `error: push to ${url}: no token (give --token, set GROVE_PUSH_TOKEN, or set the remote's push-token option)\n`);
      process.env['GROVE_PUSH_TOKEN'] = X86_TOKEN;
      const res = await pushTo(await Repo.open(two), url).finally(() => delete process.env['GROVE_PUSH_TOKEN']);
      assert.equal(res.refs[0]!.status, 'refused');
      assert.equal(res.refs[0]!.message, `os/x86_64/main: the server has ${c1}, which ${c2} does not build on (another builder pushed it; pull and rebuild, or push --force to replace it)`);
      assert.equal(res.objects.sent, 0, 'nothing is uploaded for a refused ref');
      assert.equal(fs.readFileSync(path.join(server, 'refs/heads/os/x86_64/main'), 'utf8').trim(), c1);
      // A commit on top of c1 moves it.
      const c3 = await builderCommit(one, 'archive', 'os/x86_64/main', path.join(dir, 'd-tree'), smallTree(5));
      assert.equal((await pushTo(await Repo.open(one), 'farm')).refs[0]!.status, 'moved');
      // --force replaces it whatever it names.
      const forced = await pushTo(await Repo.open(two), url, { token: X86_TOKEN, force: true });
      assert.deepEqual(forced.refs.map((x) => [x.status, x.server, x.commit]), [['moved', c3, c2]]);
      assert.equal(ostree(['fsck', `--repo=${server}`]).code, 0);
    } finally {
      await srv.close();
    }
  });

  it('a ref outside the token\'s prefixes is refused before anything is uploaded', async () => {
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'e'));
    try {
      const builder = path.join(dir, 'e-builder');
      await builderCommit(builder, 'archive', 'os/arm64/main', path.join(dir, 'e-tree'), smallTree(6));
      const r = await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `error: push to ${url}: token of line 2 of the tokens file may not move ref os/arm64/main\n`);
      assert.deepEqual(fs.readdirSync(path.join(server, 'objects')), []);
      assert.equal(fs.existsSync(path.join(server, 'refs/heads/os/arm64/main')), false);
      const bad = await groveRun(['push', `--repo=${builder}`, '--token=not-a-token-at-all-xx', url]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr, `error: push to ${url}: listing the server's refs: push refused: invalid token\n`);
    } finally {
      await srv.close();
    }
  });

  it('with deltas on, the server makes the static delta of each update, and ostree pulls the update through it', async () => {
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'f'), { deltas: true });
    try {
      const builder = path.join(dir, 'f-builder');
      const tree = path.join(dir, 'f-tree');
      const c1 = await builderCommit(builder, 'archive', 'os/x86_64/main', tree, smallTree(10, { big: true }));
      assert.equal((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url])).code, 0);
      // A device has the first commit.
      const device = path.join(dir, 'f-device');
      ostree(['init', `--repo=${device}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${device}`, '--no-gpg-verify', 'origin', url]);
      await ostreeAsync(['pull', `--repo=${device}`, 'origin', 'os/x86_64/main']);
      const big = smallTree(11, { big: true }).map((e) => (e.path === 'usr/lib/big.bin' && e.type === 'file' ? { ...e, content: Buffer.concat([Buffer.from(e.content as Uint8Array).subarray(0, 1000), Buffer.from('changed'), Buffer.from(e.content as Uint8Array).subarray(1007)]) } : e));
      const c2 = await builderCommit(builder, 'archive', 'os/x86_64/main', tree, big);
      assert.equal((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url])).code, 0);
      // The delta is made after the push is answered: wait for the summary to list it.
      for (let i = 0; i < 200 && !ostree(['summary', `--repo=${server}`, '--view']).stdout.includes(`${c1}-${c2}`); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(ostree(['static-delta', 'list', `--repo=${server}`]).stdout, new RegExp(`^${c1}-${c2}$`, 'm'));
      const r = await ostreeAsync(['pull', `--repo=${device}`, '--require-static-deltas', 'origin', 'os/x86_64/main']);
      assert.match(r, /delta parts/);
      assert.equal(ostree(['rev-parse', `--repo=${device}`, 'origin:os/x86_64/main']).stdout.trim(), c2);
      assert.equal(ostree(['fsck', `--repo=${device}`]).code, 0);
      assert.equal(ostree(['fsck', `--repo=${server}`]).code, 0);
    } finally {
      await srv.close();
    }
  });

  it('a server with an ed25519 key signs each summary it writes; a pull that verifies summaries accepts it, and refuses another key', async () => {
    const key = generateEd25519KeyPair();
    const other = generateEd25519KeyPair();
    const { srv, repo: server, url } = await startReceiver(path.join(dir, 'g'), { sign: { ed25519: [key.secret] } });
    try {
      const builder = path.join(dir, 'g-builder');
      // The commit carries both keys' signatures: only the summary's decides below.
      await builderCommit(builder, 'archive', 'os/x86_64/main', path.join(dir, 'g-tree'), smallTree(12), [`--sign=${key.secret}`, `--sign=${other.secret}`]);
      assert.equal((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url])).code, 0);
      assert.ok(fs.existsSync(path.join(server, 'summary.sig')));
      for (const [name, pub, code] of [['good', key.public, 0], ['other', other.public, 1]] as const) {
        const client = path.join(dir, `g-client-${name}`);
        groveOk(['init', `--repo=${client}`, '--mode=bare-user']);
        groveOk(['remote', 'add', `--repo=${client}`, '--no-gpg-verify', `--sign-verify=ed25519=inline:${pub}`, '--set=sign-verify-summary=true', 'origin', url]);
        const r = await groveRun(['pull', `--repo=${client}`, 'origin', 'os/x86_64/main']);
        assert.equal(r.code, code, `${name}: ${r.stderr}`);
        if (code !== 0) assert.match(r.stderr, /summary/i);
      }
    } finally {
      await srv.close();
    }
  });
});
