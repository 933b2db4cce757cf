import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GROVE_BIN, makeGpgKey, needsOstree, ostree, tempDir } from '../helpers.js';
import { run } from '../interop/support.js';
import { serveRepo, type RepoServer } from '../../src/net/serve.js';
import { generateKeyPair } from '../../src/sign/ed25519.js';
import { decode, type Variant } from '../../src/format/gvariant.js';

/**
 * Signed commits and summaries: GPG both ways with the real ostree (which verifies grove's
 * signatures on pull, and whose signatures grove verifies), ed25519 within grove (Debian's
 * ostree 2022.7 is built without it; grove follows upstream's format: `ostree.sign.ed25519`,
 * `aay` of 64-byte signatures over the commit bytes). A remote that requires signatures
 * refuses an unsigned or wrongly signed commit and keeps nothing of it.
 */

const grove = (args: string[]) => run(process.execPath, [GROVE_BIN, ...args]);
async function groveOk(args: string[]): Promise<string> {
  const r = await grove(args);
  if (r.code !== 0) throw new Error(`grove ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
const ostreeAsync = async (args: string[]) => {
  const r = await run('ostree', args);
  if (r.code !== 0) throw new Error(`ostree ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

describe('signed commits', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let tree: string;
  let gpgHome: string;
  let key: { id: string; pub: string };
  let otherHome: string;
  let other: { id: string; pub: string };

  before(async () => {
    tmp = await tempDir();
    tree = path.join(tmp.dir, 'tree');
    await fs.mkdir(path.join(tree, 'etc'), { recursive: true });
    await fs.writeFile(path.join(tree, 'etc/os-release'), 'ID=grove\n');
    gpgHome = path.join(tmp.dir, 'gnupg');
    otherHome = path.join(tmp.dir, 'gnupg-other');
    await fs.mkdir(gpgHome, { mode: 0o700 });
    await fs.mkdir(otherHome, { mode: 0o700 });
    key = makeGpgKey(gpgHome, 'builder');
    other = makeGpgKey(otherHome, 'intruder');
  });
  after(async () => {
    for (const h of [gpgHome, otherHome]) spawnSync('gpgconf', ['--homedir', h, '--kill', 'gpg-agent']);
    await tmp?.cleanup();
  });

  let n = 0;
  async function served(fn: (url: string, repo: string) => Promise<void>, make: (repo: string) => Promise<void>): Promise<void> {
    const repo = path.join(tmp.dir, `src-${n++}`);
    await groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    await make(repo);
    const server: RepoServer = await serveRepo(repo);
    try {
      await fn(server.url, repo);
    } finally {
      await server.close();
    }
  }

  it('a GPG-signed grove commit and summary verify with the real ostree pull', async () => {
    await served(async (url) => {
      const dst = path.join(tmp.dir, `o-${n++}`);
      ostree(['init', `--repo=${dst}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${dst}`, `--gpg-import=${key.pub}`, '--set=gpg-verify-summary=true', 'origin', url]);
      await ostreeAsync(['pull', `--repo=${dst}`, 'origin', 'main']);
      ostree(['fsck', `--repo=${dst}`]);
      // The same commit is refused by a client that trusts another key.
      const wrong = path.join(tmp.dir, `o-${n++}`);
      ostree(['init', `--repo=${wrong}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${wrong}`, `--gpg-import=${other.pub}`, 'origin', url]);
      const r = await run('ostree', ['pull', `--repo=${wrong}`, 'origin', 'main']);
      assert.notEqual(r.code, 0);
    }, async (repo) => {
      await groveOk(['commit', `--repo=${repo}`, '-b', 'main', `--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`, tree]);
      await groveOk(['summary', `--repo=${repo}`, '-u', `--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`]);
    });
  });

  it('an ostree GPG-signed commit verifies with grove pull; a foreign or missing signature is refused and nothing kept', async () => {
    const src = path.join(tmp.dir, `osrc-${n++}`);
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    ostree(['commit', `--repo=${src}`, '-b', 'main', `--gpg-sign=${key.id}`, `--gpg-homedir=${gpgHome}`, `--tree=dir=${tree}`]);
    ostree(['commit', `--repo=${src}`, '-b', 'intruded', `--gpg-sign=${other.id}`, `--gpg-homedir=${otherHome}`, `--tree=dir=${tree}`, '-s', 'x']);
    ostree(['commit', `--repo=${src}`, '-b', 'unsigned', `--tree=dir=${tree}`, '-s', 'y']);
    ostree(['summary', `--repo=${src}`, '-u']);
    const server = await serveRepo(src);
    try {
      const dst = path.join(tmp.dir, `g-${n++}`);
      await groveOk(['init', `--repo=${dst}`, '--mode=bare-user']);
      await groveOk(['remote', 'add', `--repo=${dst}`, `--gpg-import=${key.pub}`, 'origin', server.url]);
      await groveOk(['pull', `--repo=${dst}`, 'origin', 'main']);
      ostree(['fsck', `--repo=${dst}`]);
      // The refusals read as ostree's, compared on a twin repository with the same remote.
      const twin = path.join(tmp.dir, `o-${n++}`);
      ostree(['init', `--repo=${twin}`, '--mode=bare-user']);
      ostree(['remote', 'add', `--repo=${twin}`, `--gpg-import=${key.pub}`, 'origin', server.url]);
      for (const [ref, why] of [['intruded', /Can't check signature: public key not found/], ['unsigned', /GPG verification enabled, but no signatures found/]] as const) {
        const r = await grove(['pull', `--repo=${dst}`, 'origin', ref]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`^error: Commit [0-9a-f]{64}: (.|\n)*${why.source}`));
        assert.equal(r.stderr, (await run('ostree', ['pull', `--repo=${twin}`, 'origin', ref])).stderr, `pull ${ref}: stderr`);
        const csum = ostree(['rev-parse', `--repo=${src}`, ref]).stdout.trim();
        await assert.rejects(fs.access(path.join(dst, 'objects', csum.slice(0, 2), `${csum.slice(2)}.commit`)));
        await assert.rejects(fs.access(path.join(dst, 'refs/remotes/origin', ref)));
      }
      // A remote added without keys (gpg-verify defaults to true) refuses even the good commit.
      const nokeys = path.join(tmp.dir, `g-${n++}`);
      await groveOk(['init', `--repo=${nokeys}`, '--mode=archive']);
      await groveOk(['remote', 'add', `--repo=${nokeys}`, 'origin', server.url]);
      const r = await grove(['pull', `--repo=${nokeys}`, 'origin', 'main']);
      assert.match(r.stderr, /^error: Commit [0-9a-f]{64}: Signature made .* using EdDSA key ID [0-9A-F]{16}\nCan't check signature: public key not found\n$/);
      ostree(['remote', 'add', `--repo=${twin}`, 'nokeys', server.url]);
      assert.equal(r.stderr, (await run('ostree', ['pull', `--repo=${twin}`, 'nokeys', 'main'])).stderr);
    } finally {
      await server.close();
    }
  });

  it('ed25519: grove signs commits and summaries as upstream ostree, verifies them on pull, refuses bad ones', async () => {
    const good = generateKeyPair();
    const bad = generateKeyPair();
    await served(async (url, repo) => {
      const dst = path.join(tmp.dir, `e-${n++}`);
      await groveOk(['init', `--repo=${dst}`, '--mode=bare-user']);
      await groveOk(['remote', 'add', `--repo=${dst}`, '--no-gpg-verify', `--sign-verify=ed25519=inline:${good.public}`, '--set=sign-verify-summary=true', 'origin', url]);
      await groveOk(['pull', `--repo=${dst}`, 'origin', 'main']);
      ostree(['fsck', `--repo=${dst}`]);
      // The detached metadata is upstream's: ostree.sign.ed25519 -> aay.
      const csum = ostree(['rev-parse', `--repo=${repo}`, 'main']).stdout.trim();
      // ostree finds the key (its print of random bytes varies), and the value is one 64-byte signature.
      assert.match(ostree(['show', `--repo=${repo}`, '--print-detached-metadata-key=ostree.sign.ed25519', csum]).stdout, /^\[.+\]$/m);
      const detached = decode('a{sv}', await fs.readFile(path.join(repo, 'objects', csum.slice(0, 2), `${csum.slice(2)}.commitmeta`))) as Array<[string, Variant]>;
      const sig = detached.find(([k]) => k === 'ostree.sign.ed25519')?.[1];
      assert.equal(sig?.type, 'aay');
      assert.deepEqual((sig!.value as Uint8Array[]).map((b) => b.length), [64]);
      assert.match(await groveOk(['sign', `--repo=${repo}`, '--verify', 'main', good.public]), /verified successfully/);
      assert.equal((await grove(['sign', `--repo=${repo}`, '--verify', 'main', bad.public])).code, 1);
      // Signed by another key only: refused, nothing kept.
      for (const ref of ['forged', 'unsigned']) {
        const r = await grove(['pull', `--repo=${dst}`, 'origin', ref]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^error: commit [0-9a-f]{64} from remote origin is not signed as required: (none of its 1 ed25519 signature\(s\) is by a trusted key|no ed25519 signature)/);
        await assert.rejects(fs.access(path.join(dst, 'refs/remotes/origin', ref)));
      }
      // A tampered summary signature is refused before anything is fetched.
      await fs.writeFile(path.join(repo, 'summary.sig'), await fs.readFile(path.join(tmp.dir, 'bad-summary.sig')));
      const r = await grove(['pull', `--repo=${dst}`, 'origin', 'main']);
      assert.match(r.stderr, /^error: the summary of remote origin is not signed as required/);
    }, async (repo) => {
      await groveOk(['commit', `--repo=${repo}`, '-b', 'main', `--sign=${good.secret}`, tree]);
      await groveOk(['commit', `--repo=${repo}`, '-b', 'forged', `--sign=${bad.secret}`, '-s', 'f', tree]);
      await groveOk(['commit', `--repo=${repo}`, '-b', 'unsigned', '-s', 'u', tree]);
      await groveOk(['summary', `--repo=${repo}`, '-u', `--sign=${bad.secret}`]);
      await fs.copyFile(path.join(repo, 'summary.sig'), path.join(tmp.dir, 'bad-summary.sig'));
      await groveOk(['summary', `--repo=${repo}`, '-u', `--sign=${good.secret}`]);
    });
  });
});
