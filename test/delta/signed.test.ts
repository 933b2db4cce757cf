import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { decode } from '../../src/format/gvariant.js';
import { signSuperblock } from '../../src/delta/signed-superblock.js';
import { SIGNED_SUPERBLOCK_TYPE } from '../../src/delta/superblock.js';
import { deltaRelDir } from '../../src/delta/names.js';
import { signEngine } from '../../src/sign/engines.js';
import { generateKeyPair } from '../../src/sign/ed25519.js';
import { grove, haveOstree, needsOstree, ostree, tempDir, type RunResult } from '../helpers.js';

/**
 * Signed static deltas (`generate --sign`, `verify`, `apply-offline` with keys), against
 * Debian's ostree 2022.7. It has no ed25519 (no libsodium), but it has ostree's test engine,
 * `dummy`, with OSTREE_DUMMY_SIGN_ENABLED=1: that is how the signed superblock's bytes and every
 * message and status are compared with the real tool. ed25519 runs the same code with a real
 * signature, checked here by node:crypto as well as by grove.
 */

const same = (g: RunResult, o: RunResult, what: string) => {
  assert.equal(g.stdout, o.stdout, `${what}: stdout`);
  assert.equal(g.stderr, o.stderr, `${what}: stderr`);
  assert.equal(g.code, o.code, `${what}: status`);
};

describe('signed static deltas, as ostree signs, verifies and applies them', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let src = '';
  let a = '';
  const dummy = ['--sign-type=dummy'];

  before(async () => {
    if (!haveOstree()) return;
    process.env['OSTREE_DUMMY_SIGN_ENABLED'] = '1';
    ({ dir, cleanup } = await tempDir('grove-delta-signed-'));
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
      { path: 'usr/share/doc', type: 'file', content: 'doc\n'.repeat(1000) },
      { path: 'usr/bin/sh', type: 'symlink', target: 'tool' },
    ]);
    src = path.join(dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    a = ostree(['commit', `--repo=${src}`, '-b', 'main', '--timestamp=@1700000000', tree]).stdout.trim();
  });

  after(async () => {
    delete process.env['OSTREE_DUMMY_SIGN_ENABLED'];
    await cleanup();
  });

  /** A copy of the source repository with no deltas. */
  const fresh = (name: string) => {
    const r = path.join(dir, name);
    fs.cpSync(src, r, { recursive: true });
    return r;
  };
  const superblockOf = (repo: string) => path.join(repo, deltaRelDir({ from: null, to: a }), 'superblock');
  const emptyRepo = (name: string, mode = 'bare-user') => {
    const r = path.join(dir, name);
    ostree(['init', `--repo=${r}`, `--mode=${mode}`]);
    return r;
  };

  test('a superblock grove signs with dummy is the one ostree writes, byte for byte, for the same superblock', () => {
    const o = fresh('o-bytes');
    ostree(['static-delta', 'generate', `--repo=${o}`, '--empty', `--to=${a}`, ...dummy, '--sign=first-key', '--sign=second-key']);
    const signed = fs.readFileSync(superblockOf(o));
    const [, inner, sigs] = decode(SIGNED_SUPERBLOCK_TYPE, signed) as [bigint, Uint8Array, Array<[string, { value: Uint8Array[] }]>];
    assert.deepEqual(sigs.map(([k]) => k), ['ostree.sign.dummy']);
    assert.deepEqual(Buffer.from(signSuperblock(inner, signEngine('dummy'), ['first-key', 'second-key'])), signed);
  });

  test('grove signs, ostree shows, verifies and applies: the same words and statuses as for ostree\'s own', () => {
    const g = fresh('g-signed');
    const o = fresh('o-signed');
    const gen = grove(['static-delta', 'generate', `--repo=${g}`, '--empty', `--to=${a}`, ...dummy, '--sign=the-key']);
    assert.equal(gen.code, 0, gen.stderr);
    ostree(['static-delta', 'generate', `--repo=${o}`, '--empty', `--to=${a}`, ...dummy, '--sign=the-key']);
    // Each tool reads each one's delta alike.
    for (const repo of [g, o]) {
      same(grove(['static-delta', 'show', `--repo=${repo}`, a]), ostree(['static-delta', 'show', `--repo=${repo}`, a]), `show of ${repo}`);
      assert.match(grove(['static-delta', 'show', `--repo=${repo}`, a]).stdout, /^Signed: yes$/m);
      for (const key of ['the-key', 'another-key']) {
        const args = ['static-delta', 'verify', `--repo=${repo}`, ...dummy, a, key];
        same(grove(args), ostree(args, { allowFail: true }), `verify with ${key} of ${repo}`);
      }
      const bogus = ['static-delta', 'verify', `--repo=${repo}`, '--sign-type=bogus', a, 'the-key'];
      same(grove(bogus), ostree(bogus, { allowFail: true }), 'verify with an unknown engine');
    }
    assert.equal(grove(['static-delta', 'verify', `--repo=${g}`, ...dummy, a, 'the-key']).stdout, 'Verification OK\n');
    // ostree (no ed25519 here) applies a signed delta unchecked; grove with the dummy key checks it.
    const intoO = emptyRepo('into-o');
    ostree(['static-delta', 'apply-offline', `--repo=${intoO}`, path.dirname(superblockOf(g))]);
    assert.match(ostree(['fsck', `--repo=${intoO}`]).stdout, /1 commits/);
    const intoG = emptyRepo('into-g');
    const applied = grove(['static-delta', 'apply-offline', `--repo=${intoG}`, ...dummy, path.dirname(superblockOf(o)), 'the-key']);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(ostree(['fsck', `--repo=${intoG}`]).stdout, /1 commits/);
  });

  test('apply-offline with the wrong key, or with none where core.sign-verify-deltas requires one, fails as ostree\'s and stores nothing', () => {
    const o = fresh('o-refused');
    ostree(['static-delta', 'generate', `--repo=${o}`, '--empty', `--to=${a}`, ...dummy, '--sign=the-key']);
    const delta = path.dirname(superblockOf(o));
    const cases: Array<[string, string[], boolean]> = [
      ['the wrong key', [...dummy, delta, 'wrong-key'], false],
      ['no key, verification required', [...dummy, delta], true],
    ];
    for (const [what, args, required] of cases) {
      const into = { g: emptyRepo(`g-${what}`), o: emptyRepo(`o-${what}`) };
      if (required) for (const r of Object.values(into)) ostree(['config', `--repo=${r}`, 'set', 'core.sign-verify-deltas', 'true']);
      const g = grove(['static-delta', 'apply-offline', `--repo=${into.g}`, ...args]);
      const o2 = ostree(['static-delta', 'apply-offline', `--repo=${into.o}`, ...args], { allowFail: true });
      same(g, o2, `apply-offline with ${what}`);
      assert.notEqual(g.code, 0);
      assert.equal(ostree(['refs', `--repo=${into.g}`]).stdout, '');
      assert.deepEqual(fs.readdirSync(path.join(into.g, 'objects')), [], `apply-offline with ${what} stored objects`);
    }
  });

  test('an unknown --sign-type, and dummy without OSTREE_DUMMY_SIGN_ENABLED, are refused in ostree\'s words; no delta is left', () => {
    const g = fresh('g-bad-type');
    const o = fresh('o-bad-type');
    for (const [extra, env] of [[['--sign-type=bogus', '--sign=k'], {}], [[...dummy, '--sign=k'], { OSTREE_DUMMY_SIGN_ENABLED: '' }]] as const) {
      const args = (r: string) => ['static-delta', 'generate', `--repo=${r}`, '--empty', `--to=${a}`, ...extra];
      const gr = grove(args(g), { env });
      const or = spawnSync('ostree', args(o), { encoding: 'utf8', env: { ...process.env, ...env } });
      assert.equal(gr.code, or.status, gr.stderr);
      assert.equal(gr.stderr.trim().split('\n').at(-1), or.stderr.trim().split('\n').at(-1));
      assert.equal(fs.existsSync(superblockOf(g)), false);
    }
  });

  test('ed25519: grove signs the superblock with the secret key, checks it with the public one, and refuses a tampered delta', () => {
    const { secret, public: pub } = generateKeyPair();
    const other = generateKeyPair().public;
    const g = fresh('g-ed25519');
    const gen = grove(['static-delta', 'generate', `--repo=${g}`, '--empty', `--to=${a}`, `--sign=${secret}`]);
    assert.equal(gen.code, 0, gen.stderr);
    const file = fs.readFileSync(superblockOf(g));
    const [, inner, sigs] = decode(SIGNED_SUPERBLOCK_TYPE, file) as [bigint, Uint8Array, Array<[string, { value: Uint8Array[] }]>];
    assert.equal(sigs[0]![0], 'ostree.sign.ed25519');
    // Plain Ed25519 over the inner superblock's bytes, as libsodium's crypto_sign_detached makes it.
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(pub, 'base64')]);
    assert.equal(crypto.verify(null, inner, crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' }), sigs[0]![1].value[0]!), true);

    const verify = (key: string) => grove(['static-delta', 'verify', `--repo=${g}`, a, key]);
    assert.deepEqual(verify(pub), { code: 0, stdout: 'Verification OK\n', stderr: '' });
    const wrong = verify(other);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stdout, 'Verification fails\n');
    assert.equal(wrong.stderr, `error: ed25519: Signature couldn't be verified with: key '${Buffer.from(other, 'base64').toString('hex')}'\n`);
    assert.equal(grove(['static-delta', 'verify', `--repo=${g}`, a, 'not-a-key']).stderr, 'error: Incorrect ed25519 public key\n');

    const into = emptyRepo('into-ed25519');
    assert.equal(grove(['static-delta', 'apply-offline', `--repo=${into}`, path.dirname(superblockOf(g)), other]).code, 1);
    assert.deepEqual(fs.readdirSync(path.join(into, 'objects')), []);
    const ok = grove(['static-delta', 'apply-offline', `--repo=${into}`, path.dirname(superblockOf(g)), pub]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ostree(['fsck', `--repo=${into}`]).stdout, /1 commits/);

    // One byte of the superblock (inside the signed bytes) changed: the signature no longer holds.
    const tampered = Buffer.from(file);
    tampered[file.indexOf(Buffer.from(inner)) + 40]! ^= 1;
    fs.writeFileSync(superblockOf(g), tampered);
    assert.equal(verify(pub).stdout, 'Verification fails\n');
  });

  test('verify of an unsigned delta, a missing one and a malformed name fail as ostree\'s (show and delete too)', () => {
    const g = fresh('g-unsigned');
    ostree(['static-delta', 'generate', `--repo=${g}`, '--empty', `--to=${a}`]);
    for (const id of [a, 'f'.repeat(64), 'ffff', `${a}-eeee`, 'z'.repeat(64), '']) {
      const args = ['static-delta', 'verify', `--repo=${g}`, ...dummy, id, 'k'];
      same(grove(args), ostree(args, { allowFail: true }), `verify ${id}`);
    }
    // No key given: ostree's dummy engine has no default keys to load, with or without its variable.
    for (const env of [{}, { OSTREE_DUMMY_SIGN_ENABLED: '' }]) {
      const args = ['static-delta', 'verify', `--repo=${g}`, ...dummy, a];
      const o = spawnSync('ostree', args, { encoding: 'utf8', env: { ...process.env, ...env } });
      same(grove(args, { env }), { code: o.status ?? -1, stdout: o.stdout, stderr: o.stderr }, `verify without a key, env ${JSON.stringify(env)}`);
    }
    for (const verb of ['show', 'delete']) {
      const args = ['static-delta', verb, `--repo=${g}`, 'ffff'];
      same(grove(args), ostree(args, { allowFail: true }), `${verb} ffff`);
    }
  });
});
