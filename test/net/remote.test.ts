import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GROVE_BIN, needsOstree, ostree, tempDir } from '../helpers.js';
import { run } from '../interop/support.js';
import { serveRepo, type RepoServer } from '../../src/net/serve.js';

/**
 * Remotes are ostree's `[remote "NAME"]` config groups: the same commands must leave the same
 * config bytes in both tools, and print the same lists. Also the pull variants: --mirror,
 * --subpath, pull-local --remote, and `remote refs|summary` against ostree's output.
 */

const grove = (args: string[]) => run(process.execPath, [GROVE_BIN, ...args]);
async function groveOk(args: string[]): Promise<string> {
  const r = await grove(args);
  if (r.code !== 0) throw new Error(`grove ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

describe('grove remote against ostree remote', needsOstree(), () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let src: string;
  let server: RepoServer;
  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    await fs.mkdir(path.join(tree, 'usr/share/doc'), { recursive: true });
    await fs.mkdir(path.join(tree, 'etc'), { recursive: true });
    await fs.writeFile(path.join(tree, 'usr/share/doc/readme'), 'doc\n');
    await fs.writeFile(path.join(tree, 'etc/motd'), 'hello\n');
    src = path.join(tmp.dir, 'src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    ostree(['commit', `--repo=${src}`, '-b', 'main', `--tree=dir=${tree}`]);
    ostree(['commit', `--repo=${src}`, '-b', 'os/x86_64/stable', '--add-metadata-string=version=2.0', `--tree=dir=${tree}`]);
    ostree(['summary', `--repo=${src}`, '-u']);
    server = await serveRepo(src);
  });
  after(async () => {
    await server?.close();
    await tmp?.cleanup();
  });

  it('add, list, show-url and delete leave the config ostree leaves and print what it prints', async () => {
    const g = path.join(tmp.dir, 'g');
    const o = path.join(tmp.dir, 'o');
    await groveOk(['init', `--repo=${g}`, '--mode=bare-user']);
    ostree(['init', `--repo=${o}`, '--mode=bare-user']);
    const adds = [
      ['--no-gpg-verify', 'origin', 'http://example.com/repo', 'main', 'os/x86_64/stable'],
      ['--set=tls-permissive=true', '--set=gpg-verify-summary=false', 'second', 'https://mirror.example.org/ostree'],
      ['--no-sign-verify', 'nosig', 'http://nosig.example'],
      ['--if-not-exists', 'origin', 'http://other.example'],
    ];
    for (const a of adds) {
      await groveOk(['remote', 'add', `--repo=${g}`, ...a]);
      ostree(['remote', 'add', `--repo=${o}`, ...a]);
    }
    await groveOk(['remote', 'delete', `--repo=${g}`, 'second']);
    ostree(['remote', 'delete', `--repo=${o}`, 'second']);
    await groveOk(['remote', 'delete', `--repo=${g}`, '--if-exists', 'never']);
    assert.equal(await fs.readFile(path.join(g, 'config'), 'utf8'), await fs.readFile(path.join(o, 'config'), 'utf8'));
    for (const args of [['list'], ['list', '-u'], ['show-url', 'origin']]) {
      assert.equal(await groveOk(['remote', ...args, `--repo=${g}`]), ostree(['remote', ...args, `--repo=${o}`]).stdout, args.join(' '));
    }
    // Both refuse a duplicate and a missing remote.
    let r = await grove(['remote', 'add', `--repo=${g}`, 'origin', 'http://x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: Remote configuration for "origin" already exists: \(in config\)/);
    r = await grove(['remote', 'delete', `--repo=${g}`, 'nope']);
    assert.match(r.stderr, /^error: Remote "nope" not found/);
    r = await grove(['remote', 'add', `--repo=${g}`, '--sign-verify=rsa=inline:x', 'bad', 'http://x']);
    assert.match(r.stderr, /^error: --sign-verify: unknown signature type 'rsa'/);
    // ed25519 (which Debian's ostree lacks): the keys upstream ostree writes.
    await groveOk(['remote', 'add', `--repo=${g}`, '--sign-verify=ed25519=inline:X9HRKp3S+cij48g4FEF1nOKn7hotR4nyIPdSLC6kGp4=', 'signed', 'http://signed.example']);
    const cfg = await fs.readFile(path.join(g, 'config'), 'utf8');
    assert.match(cfg, /\[remote "signed"\]\nurl=http:\/\/signed.example\nverification-ed25519-key=X9HRKp3S\+cij48g4FEF1nOKn7hotR4nyIPdSLC6kGp4=\nsign-verify=ed25519\n/);
  });

  it('remote refs and remote summary print what ostree prints', async () => {
    const g = path.join(tmp.dir, 'g2');
    const o = path.join(tmp.dir, 'o2');
    await groveOk(['init', `--repo=${g}`, '--mode=bare-user']);
    ostree(['init', `--repo=${o}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${g}`, '--no-gpg-verify', 'origin', server.url]);
    ostree(['remote', 'add', `--repo=${o}`, '--no-gpg-verify', 'origin', server.url]);
    const theirs = await run('ostree', ['remote', 'refs', `--repo=${o}`, 'origin']);
    assert.equal(await groveOk(['remote', 'refs', `--repo=${g}`, 'origin']), theirs.stdout);
    // Same text for the same summary (dates in UTC for both). Asynchronous runs: the server
    // lives in this process and must keep answering.
    const env = { ...process.env, TZ: 'UTC' };
    const ours = await runEnv(process.execPath, [GROVE_BIN, 'remote', 'summary', `--repo=${g}`, 'origin'], env);
    const theirsSummary = await runEnv('ostree', ['remote', 'summary', `--repo=${o}`, 'origin'], env);
    assert.equal(ours, theirsSummary);
    assert.match(ours, /Version \(ostree.commit.version\): 2.0/);
  });

  it('--mirror writes refs/heads; --subpath fetches one directory and marks the commit partial', async () => {
    const g = path.join(tmp.dir, 'g3');
    await groveOk(['init', `--repo=${g}`, '--mode=archive']);
    await groveOk(['remote', 'add', `--repo=${g}`, '--no-gpg-verify', 'origin', server.url]);
    await groveOk(['pull', `--repo=${g}`, '--mirror', 'origin', 'main']);
    const want = ostree(['rev-parse', `--repo=${src}`, 'main']).stdout.trim();
    assert.equal((await fs.readFile(path.join(g, 'refs/heads/main'), 'utf8')).trim(), want);
    ostree(['fsck', `--repo=${g}`]);

    const s = path.join(tmp.dir, 'g4');
    await groveOk(['init', `--repo=${s}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${s}`, '--no-gpg-verify', 'origin', server.url]);
    await groveOk(['pull', `--repo=${s}`, '--subpath=/usr/share', 'origin', 'os/x86_64/stable']);
    const csum = ostree(['rev-parse', `--repo=${src}`, 'os/x86_64/stable']).stdout.trim();
    await fs.access(path.join(s, 'state', `${csum}.commitpartial`));
    assert.equal(ostree(['cat', `--repo=${s}`, 'origin:os/x86_64/stable', '/usr/share/doc/readme']).stdout, 'doc\n');
    assert.notEqual(ostree(['cat', `--repo=${s}`, 'origin:os/x86_64/stable', '/etc/motd'], { allowFail: true }).code, 0);
    ostree(['fsck', `--repo=${s}`]);
  });

  it('pull-local --remote writes REMOTE:REF', async () => {
    const g = path.join(tmp.dir, 'g5');
    await groveOk(['init', `--repo=${g}`, '--mode=bare-user-only']);
    await groveOk(['pull-local', `--repo=${g}`, '--remote=upstream', src, 'main']);
    assert.equal(await groveOk(['rev-parse', `--repo=${g}`, 'upstream:main']), ostree(['rev-parse', `--repo=${src}`, 'main']).stdout);
    ostree(['fsck', `--repo=${g}`]);
  });
});

function runEnv(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err}`))));
  });
}
