import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { startRepoServer, type TestServer } from '../net/repo-server.js';
import { assertSame, both, detachedOf, type Twins } from './dropin-support.js';

/**
 * The `remote` family and `gpg-sign --delete` as drop-ins: each line runs under ostree on one
 * repository and under grove on its twin; status, stdout and stderr must match, and so must
 * what they leave on disk (config, keyrings, cookie jars, summary caches, detached metadata).
 * Usage errors print each tool's own help first, so only their last line is compared.
 */

const lastLine = (s: string): string => s.trimEnd().split('\n').pop() ?? '';

async function same(repos: Twins, args: (repo: string) => string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: Twins; usage?: boolean } = {}): Promise<{ g: { stdout: string }; o: { stdout: string; code: number } }> {
  const r = await both(repos, args, opts);
  if (opts.usage) {
    assert.equal(r.g.code, r.o.code, `${args('REPO').join(' ')}: exit status`);
    assert.equal(lastLine(r.g.stderr), lastLine(r.o.stderr), `${args('REPO').join(' ')}: error`);
  } else assertSame(r, repos, args('REPO').join(' '));
  return r;
}

function makeGpgKey(home: string, uid: string, algo: string, expiry: string): string {
  const gpg = (args: string[]) => spawnSync('gpg', ['--batch', '--homedir', home, ...args], { encoding: 'utf8' });
  const before = new Set(gpg(['--with-colons', '--list-keys']).stdout.match(/^fpr:+([0-9A-F]{40}):/gm) ?? []);
  const r = gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, algo, 'sign', expiry]);
  if (r.status !== 0) throw new Error(`gpg: ${r.stderr}`);
  const fpr = (gpg(['--with-colons', '--list-keys']).stdout.match(/^fpr:+([0-9A-F]{40}):/gm) ?? []).find((l) => !before.has(l))!;
  return /([0-9A-F]{40})/.exec(fpr)![1]!;
}

describe('remote verbs and gpg-sign --delete match ostree', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let repos: Twins = { g: '', o: '' };
  let home = '';
  let alice = '';
  let bob = '';
  let keysAsc = '';

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-dropin-remote-'));
    repos = { g: path.join(dir, 'g'), o: path.join(dir, 'o') };
    for (const r of Object.values(repos)) ostree(['init', `--repo=${r}`, '--mode=archive']);
    home = path.join(dir, 'gnupg');
    await fs.mkdir(home, { mode: 0o700 });
    alice = makeGpgKey(home, 'Alice Q (test) <Alice.Q@Example.COM>', 'ed25519', '2y');
    bob = makeGpgKey(home, 'bob', 'rsa2048', 'never');
    keysAsc = path.join(dir, 'keys.asc');
    await fs.writeFile(keysAsc, spawnSync('gpg', ['--batch', '--homedir', home, '--armor', '--export'], { encoding: 'buffer' }).stdout);
  });

  after(async () => {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    await cleanup();
  });

  test('remote add: --custom-backend, --contenturl, --collection-id write what ostree writes', async () => {
    await same(repos, (r) => ['remote', 'add', `--repo=${r}`, '--custom-backend=flatpak', 'cb']);
    await same(repos, (r) => ['remote', 'add', `--repo=${r}`, '--custom-backend=flatpak', 'cb2', 'http://u.example/', 'b1', 'b2']);
    await same(repos, (r) => ['remote', 'add', `--repo=${r}`, '--contenturl=http://c.example/', '--collection-id=org.example.C', '--set=a=b', '--no-gpg-verify', 'cu', 'http://u.example/', 'x']);
    await same(repos, (r) => ['remote', 'add', `--repo=${r}`, '--custom-backend=flatpak'], { usage: true });
    await same(repos, (r) => ['remote', 'add', `--repo=${r}`, 'only-name'], { usage: true });
    await same(repos, (r) => ['remote', 'show-url', `--repo=${r}`, 'cb']);
    assert.equal(await fs.readFile(path.join(repos.g, 'config'), 'utf8'), await fs.readFile(path.join(repos.o, 'config'), 'utf8'));
  });

  test('remote add writes URLs grove cannot fetch as ostree does; the pull refuses them in one line', async () => {
    const twins: Twins = { g: path.join(dir, 'urls-g'), o: path.join(dir, 'urls-o') };
    for (const r of Object.values(twins)) ostree(['init', `--repo=${r}`, '--mode=archive']);
    const config = async () => assert.equal(await fs.readFile(path.join(twins.g, 'config'), 'utf8'), await fs.readFile(path.join(twins.o, 'config'), 'utf8'), 'config');
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, 'ml', 'metalink=http://127.0.0.1:1/metalink.xml']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, 'mirrors', 'mirrorlist=http://127.0.0.1:1/list']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, 'ftp', 'ftp://127.0.0.1:1/', 'bad..ref', '']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, 'empty', '']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, '--contenturl=mirrorlist=http://127.0.0.1:1/list', 'cm', 'http://127.0.0.1:1/']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, '--custom-backend=flatpak', 'cb']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, '--custom-backend=flatpak', 'cbu', 'http://127.0.0.1:1/']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, 'bad/name', 'http://x/']);
    await same(twins, (r) => ['remote', 'add', `--repo=${r}`, '--set=no-equals', 'x', 'http://x/']);
    await same(twins, (r) => ['remote', 'delete', `--repo=${r}`, 'bad/name']);
    await config();
    // ostree refuses a list with a metalink remote (it has no url), and pulls of custom backends before it needs a URL.
    await same(twins, (r) => ['remote', 'list', `--repo=${r}`, '-u']);
    await same(twins, (r) => ['remote', 'show-url', `--repo=${r}`, 'ml']);
    await same(twins, (r) => ['pull', `--repo=${r}`, 'cb', 'main']);
    await same(twins, (r) => ['pull', `--repo=${r}`, 'cbu', 'main']);
    await same(twins, (r) => ['pull', `--repo=${r}`, 'ftp', 'main']);
    // ostree fetches metalinks and mirrorlists; grove refuses them before it fetches anything.
    for (const n of ['ml', 'mirrors', 'cm']) {
      const r = await both(twins, (repo) => ['pull', `--repo=${repo}`, n, 'main']);
      assert.equal(r.o.code, 1);
      assert.equal(r.g.code, 1);
      assert.match(r.g.stderr, /^error: remote "[a-z]+"(: its (url|contenturl) is a mirrorlist| is found through a metalink), which grove does not fetch\n$/);
    }
    // Deleting the last remote leaves the file as ostree leaves it, with no blank line at its end.
    for (const n of ['cbu', 'ftp', 'cm', 'ml']) await same(twins, (r) => ['remote', 'delete', `--repo=${r}`, n]);
    await config();
  });

  test('remote add and delete --sysroot use the sysroot\'s repository', async () => {
    const roots: Twins = { g: path.join(dir, 'sysroot-g'), o: path.join(dir, 'sysroot-o') };
    for (const s of Object.values(roots)) {
      await fs.mkdir(s);
      ostree(['admin', 'init-fs', s]);
    }
    await same(roots, (s) => ['remote', 'add', `--sysroot=${s}`, 'os', 'http://os.example/']);
    await same(roots, (s) => ['remote', 'add', `--sysroot=${s}`, 'os', 'http://os.example/']);
    await same(roots, (s) => ['remote', 'list', `--repo=${s}/ostree/repo`, '-u']);
    await same(roots, (s) => ['remote', 'delete', `--sysroot=${s}`, 'nope']);
    await same(roots, (s) => ['remote', 'delete', `--sysroot=${s}`, '--if-exists', 'nope']);
    await same(roots, () => ['remote', 'add', `--sysroot=${dir}/no-such-sysroot`, 'os', 'http://os.example/']);
    await same(roots, () => ['remote', 'add', `--sysroot=${dir}`, 'os', 'http://os.example/']);
    await same(roots, () => ['remote', 'delete', `--sysroot=${dir}/no-such-sysroot`, 'os']);
    assert.equal(await fs.readFile(path.join(roots.g, 'ostree/repo/config'), 'utf8'), await fs.readFile(path.join(roots.o, 'ostree/repo/config'), 'utf8'));
    await same(roots, (s) => ['remote', 'delete', `--sysroot=${s}`, 'os']);
    assert.equal(await fs.readFile(path.join(roots.g, 'ostree/repo/config'), 'utf8'), await fs.readFile(path.join(roots.o, 'ostree/repo/config'), 'utf8'));
  });

  test('remote gpg-import --stdin, KEY-IDs and failures; gpg-list-keys', async () => {
    const input = await fs.readFile(keysAsc);
    for (const r of Object.values(repos)) for (const n of ['k', 'p']) ostree(['remote', 'add', `--repo=${r}`, n, 'http://k.example/']);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'k', '--stdin'], { input });
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'k', '--stdin'], { input });
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'k']);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'k', `--keyring=${keysAsc}`, '--stdin'], { input, usage: true });
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'k', `--keyring=${dir}/nonexistent`]);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'nope', `--keyring=${keysAsc}`]);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'p', `--keyring=${keysAsc}`, alice.slice(-16)]);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'p', `--keyring=${keysAsc}`, 'DEADBEEFDEADBEEF']);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'p', `--keyring=${keysAsc}`, 'bob']);
    await same(repos, (r) => ['remote', 'gpg-import', `--repo=${r}`, 'p', '--keyring=/etc/hostname']);
    for (const n of ['k', 'p']) {
      const ring = (r: string) => fs.readFile(path.join(r, `${n}.trustedkeys.gpg`));
      assert.ok((await ring(repos.g)).equals(await ring(repos.o)), `${n}.trustedkeys.gpg`);
    }
    const k = await same(repos, (r) => ['remote', 'gpg-list-keys', `--repo=${r}`, 'k']);
    assert.match(k.o.stdout, new RegExp(`^Key: ${alice}\n`));
    assert.match(k.o.stdout, new RegExp(`\nKey: ${bob}\n`));
    await same(repos, (r) => ['remote', 'gpg-list-keys', `--repo=${r}`, 'p'], { env: { TZ: 'Asia/Kolkata' } });
    await same(repos, (r) => ['remote', 'gpg-list-keys', `--repo=${r}`, 'nope']);
    // gpgkeypath: key files, directories of them, lists, and a path that is not there.
    const keyDir = path.join(dir, 'key-dir');
    await fs.mkdir(keyDir);
    await fs.copyFile(keysAsc, path.join(keyDir, 'keys.asc'));
    const paths: Record<string, string> = { kf: keysAsc, kd: keyDir, kl: `${keyDir};${keysAsc}`, kn: `${dir}/no-such-key` };
    for (const r of Object.values(repos)) for (const [n, v] of Object.entries(paths)) ostree(['remote', 'add', `--repo=${r}`, `--set=gpgkeypath=${v}`, n, 'http://k.example/']);
    for (const n of Object.keys(paths)) await same(repos, (r) => ['remote', 'gpg-list-keys', `--repo=${r}`, n]);
    const global = path.join(dir, 'global-keys');
    await fs.mkdir(global);
    await fs.copyFile(path.join(repos.o, 'p.trustedkeys.gpg'), path.join(global, 'p.gpg'));
    const g = await same(repos, (r) => ['remote', 'gpg-list-keys', `--repo=${r}`], { env: { OSTREE_GPG_HOME: global } });
    assert.match(g.o.stdout, new RegExp(`^Key: ${alice}\n`));
  });

  test('remote add-cookie, list-cookies, delete-cookie', async () => {
    await same(repos, (r) => ['remote', 'add-cookie', `--repo=${r}`, 'c', '127.0.0.1', '/', 'SESSION', 'abc']);
    await same(repos, (r) => ['remote', 'add-cookie', `--repo=${r}`, 'c', '.example.com', '/sub', 'N', 'v']);
    await same(repos, (r) => ['remote', 'add-cookie', `--repo=${r}`, 'c', 'a', 'b', 'c'], { usage: true });
    // The expiry is now plus 25 years: the runs may fall in different seconds.
    const jar = async (r: string) => (await fs.readFile(path.join(r, 'c.cookies.txt'), 'utf8')).replace(/\t\d+\t/g, '\tEXPIRY\t');
    assert.equal(await jar(repos.g), await jar(repos.o));
    const expiry = Number(/\t(\d+)\t/.exec(await fs.readFile(path.join(repos.g, 'c.cookies.txt'), 'utf8'))![1]);
    assert.ok(Math.abs(expiry - (Date.now() / 1000 + 25 * 365.25 * 86400)) < 86400 * 2, 'expires in 25 years');
    // ostree reads the jar for list-cookies relative to the current directory; each tool lists its own twin's.
    await fs.copyFile(path.join(repos.o, 'c.cookies.txt'), path.join(repos.g, 'c.cookies.txt'));
    const listed = await same(repos, (r) => ['remote', 'list-cookies', `--repo=${r}`, 'c'], { cwd: repos });
    assert.match(listed.o.stdout, /^--\nDomain: 127\.0\.0\.1\nPath: \/\nName: SESSION\nSecure: FALSE\nExpires: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\nValue: abc\n--\n/);
    await same(repos, (r) => ['remote', 'list-cookies', `--repo=${r}`, 'c']);
    await same(repos, (r) => ['remote', 'delete-cookie', `--repo=${r}`, 'c', 'nope', '/', 'x']);
    await same(repos, (r) => ['remote', 'delete-cookie', `--repo=${r}`, 'c', '127.0.0.1', '/', 'SESSION']);
    await same(repos, (r) => ['remote', 'delete-cookie', `--repo=${r}`, 'none', '127.0.0.1', '/', 'SESSION']);
    await same(repos, (r) => ['remote', 'delete-cookie', `--repo=${r}`], { usage: true });
    await same(repos, (r) => ['remote', 'add-cookie', `--repo=${r}`, 'no/such', 'd', '/', 'n', 'v']);
    // Lines as ostree's sscanf reads them: any white space between fields, a number that runs
    // into the next field, signs, expiries GDateTime cannot show, too few fields.
    const odd = [
      'spaced   FALSE /  FALSE 1700000000 a 1 extra',
      'joined\tFALSE\t/\tFALSE\t12ab\tc',
      'minus\tFALSE\t/\tFALSE\t-1\tm\t1',
      'plus\tFALSE\t/\tTRUE\t+5\tp\t1',
      'huge\tFALSE\t/\tFALSE\t99999999999999999999999\th\t1',
      'late\tFALSE\t/\tFALSE\t253402300800\tl\t1',
      'early\tFALSE\t/\tFALSE\t-62135596800\te\t1',
      'short\tFALSE\t/\tFALSE\t5\ts',
      'nonum\tFALSE\t/\tFALSE\tx\tn\t1',
      '',
    ].join('\n');
    for (const r of Object.values(repos)) await fs.writeFile(path.join(r, 'odd.cookies.txt'), odd);
    await same(repos, (r) => ['remote', 'list-cookies', `--repo=${r}`, 'odd'], { cwd: repos });
    await same(repos, (r) => ['remote', 'delete-cookie', `--repo=${r}`, 'odd', 'minus', '/', 'm']);
    for (const r of Object.values(repos)) await fs.writeFile(path.join(r, 'bad.cookies.txt'), Buffer.from([0x61, 0xff, 0x0a]));
    await same(repos, (r) => ['remote', 'list-cookies', `--repo=${r}`, 'bad'], { cwd: repos });
    await same(repos, (r) => ['remote', 'delete-cookie', `--repo=${r}`, 'bad', 'a', 'b', 'c']);
    for (const n of ['c', 'none', 'odd']) {
      const file = (r: string) => path.join(r, `${n}.cookies.txt`);
      assert.equal(await fs.readFile(file(repos.g), 'utf8'), await fs.readFile(file(repos.o), 'utf8'), `${n}.cookies.txt`);
      assert.equal((await fs.stat(file(repos.g))).mode & 0o777, (await fs.stat(file(repos.o))).mode & 0o777, `${n}.cookies.txt mode`);
    }
  });

  describe('remote refs and summary, with the summary cache', () => {
    let server: TestServer;
    let src = '';
    let tamper = false;
    before(async () => {
      if (!haveOstree()) return;
      src = path.join(dir, 'served');
      const tree = path.join(dir, 'tree');
      await fs.mkdir(tree, { recursive: true });
      await fs.writeFile(path.join(tree, 'f'), 'served\n');
      ostree(['init', `--repo=${src}`, '--mode=archive']);
      ostree(['commit', `--repo=${src}`, '-b', 'main', `--tree=dir=${tree}`, '--timestamp=@1600000000', '-s', 'one']);
      ostree(['commit', `--repo=${src}`, '-b', 'zz/other', `--tree=dir=${tree}`, '--timestamp=@1600000001']);
      ostree(['summary', `--repo=${src}`, '-u', `--gpg-sign=${alice}`, `--gpg-homedir=${home}`]);
      const stale = await fs.readFile(path.join(src, 'summary'));
      // With `tamper`, the server's summary changes but its signature does not: only a client
      // that takes the summary from its cache still sees both refs.
      server = await startRepoServer(src, (rel, res) => {
        if (!tamper || rel !== 'summary') return false;
        const body = stale.subarray(0, 8);
        res.writeHead(200, { 'content-length': body.length }).end(body);
        return true;
      });
      for (const r of Object.values(repos)) ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', 's', server.url]);
    });
    after(async () => {
      await server?.close();
    });

    test('summary --raw and refs print what ostree prints, and cache the signed summary', async () => {
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, '--raw', 's']);
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 's']);
      for (const f of ['s', 's.sig']) {
        const cached = (r: string) => fs.readFile(path.join(r, 'tmp/cache/summaries', f));
        assert.ok((await cached(repos.g)).equals(await cached(repos.o)), `tmp/cache/summaries/${f}`);
      }
    });

    test('a custom backend does not stop refs and summary; a remote without a summary fails in each verb\'s words', async () => {
      const bare = path.join(dir, 'no-summary');
      ostree(['init', `--repo=${bare}`, '--mode=archive']);
      for (const r of Object.values(repos)) {
        ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', '--custom-backend=flatpak', 'cbs', server.url]);
        ostree(['remote', 'add', `--repo=${r}`, '--no-gpg-verify', 'nosum', `file://${bare}`]);
      }
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 'cbs']);
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, '--raw', 'cbs']);
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 'nosum']);
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, 'nosum']);
    });

    test('summary signatures verify with gpgkeypath files, and a remote keyring of its own leaves out the global ones', async () => {
      const bobOnly = path.join(dir, 'bob.asc');
      await fs.writeFile(bobOnly, spawnSync('gpg', ['--batch', '--homedir', home, '--armor', '--export', bob], { encoding: 'buffer' }).stdout);
      const global = path.join(dir, 'global-summary-keys');
      await fs.mkdir(global);
      await fs.writeFile(path.join(global, 'all.gpg'), spawnSync('gpg', ['--batch', '--homedir', home, '--export'], { encoding: 'buffer' }).stdout);
      for (const r of Object.values(repos)) {
        ostree(['remote', 'add', `--repo=${r}`, '--set=gpg-verify-summary=true', `--set=gpgkeypath=${keysAsc}`, 'vkp', server.url]);
        ostree(['remote', 'add', `--repo=${r}`, '--set=gpg-verify-summary=true', 'vown', server.url]);
        ostree(['remote', 'gpg-import', `--repo=${r}`, `--keyring=${bobOnly}`, 'vown']);
        ostree(['remote', 'add', `--repo=${r}`, '--set=gpg-verify-summary=true', 'vglobal', server.url]);
      }
      const env = { OSTREE_GPG_HOME: global, OSTREE_SKIP_CACHE: '1' };
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 'vkp'], { env });
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 'vglobal'], { env });
      const own = await both(repos, (r) => ['remote', 'refs', `--repo=${r}`, 'vown'], { env });
      assert.equal(own.o.code, 1, 'ostree: bob alone did not sign the summary');
      assert.equal(own.g.code, own.o.code, own.g.stderr);
      // summary prints gpgme's account of each signature; one it cannot check fails in those words.
      const withKeys = await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, 'vkp'], { env: { ...env, TZ: 'America/New_York' } });
      assert.match(withKeys.o.stdout, /\nGPG: Verification enabled, found 1 signature:\n\n {2}Signature made .* using EdDSA key ID [0-9A-F]{16}\n {2}Good signature from "Alice Q <Alice\.Q@Example\.COM>"\n {2}Key expires /);
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, 'vown'], { env });
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, 'vglobal'], { env: { ...env, OSTREE_GPG_HOME: path.join(dir, 'no-global-keys') } });
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, '--raw', 'vkp'], { env });
    });

    test('--cache-dir: the cache goes there, and a cached summary with the same signature is used', async () => {
      const caches: Twins = { g: path.join(dir, 'cache-g'), o: path.join(dir, 'cache-o') };
      for (const c of Object.values(caches)) await fs.mkdir(c);
      const withCache = (r: string) => (r === repos.g ? caches.g : caches.o);
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 's', `--cache-dir=${withCache(r)}`]);
      for (const f of ['s', 's.sig']) {
        const cached = (c: string) => fs.readFile(path.join(c, 'summaries', f));
        assert.ok((await cached(caches.g)).equals(await cached(caches.o)), `summaries/${f}`);
      }
      tamper = true;
      try {
        const r = await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, '--raw', 's', `--cache-dir=${withCache(r)}`]);
        assert.match(r.o.stdout, /'zz\/other'/);
      } finally {
        tamper = false;
      }
      await same(repos, (r) => ['remote', 'summary', `--repo=${r}`, 's', `--cache-dir=${dir}/no-such-dir`]);
      await same(repos, (r) => ['remote', 'refs', `--repo=${r}`, 's', `--cache-dir=${keysAsc}`]);
    });
  });

  test('gpg-sign --delete deletes the signatures of keys in the global keyrings, as ostree', async () => {
    const twins: Twins = { g: path.join(dir, 'signed-g'), o: path.join(dir, 'signed-o') };
    const tree = path.join(dir, 'tree-signed');
    await fs.mkdir(tree);
    await fs.writeFile(path.join(tree, 'f'), 'signed\n');
    ostree(['init', `--repo=${twins.o}`, '--mode=archive']);
    const commit = ostree(['commit', `--repo=${twins.o}`, '-b', 'main', `--tree=dir=${tree}`, '--timestamp=@1600000000',
      '--add-detached-metadata-string=a=b', '--add-detached-metadata-string=zz=y']).stdout.trim();
    ostree(['gpg-sign', `--repo=${twins.o}`, `--gpg-homedir=${home}`, 'main', alice, bob, alice]);
    // A BAD signature: alice's signature of one commit put on another. ostree still finds the
    // key that made it, and deletes it for alice's key ID.
    const signedOther = (b: string, t: string) => ostree(['commit', `--repo=${twins.o}`, '-b', b, `--tree=dir=${tree}`, `--timestamp=@${t}`]).stdout.trim();
    const [x1, x2] = [signedOther('x1', '1600000001'), signedOther('x2', '1600000002')];
    ostree(['gpg-sign', `--repo=${twins.o}`, `--gpg-homedir=${home}`, 'x1', alice]);
    const metaPath = (c: string) => path.join(twins.o, 'objects', c.slice(0, 2), `${c.slice(2)}.commitmeta`);
    await fs.copyFile(metaPath(x1), metaPath(x2));
    await fs.cp(twins.o, twins.g, { recursive: true });
    const global = path.join(dir, 'global-signers');
    await fs.mkdir(global);
    await fs.writeFile(path.join(global, 'keys.gpg'), spawnSync('gpg', ['--batch', '--homedir', home, '--export'], { encoding: 'buffer' }).stdout);
    const sameMeta = async () => assert.ok((await detachedOf(twins.g, commit))!.equals((await detachedOf(twins.o, commit))!), 'detached metadata');
    // Without the keys in the global keyrings nothing matches.
    await same(twins, (r) => ['gpg-sign', `--repo=${r}`, '--delete', 'main', alice.slice(-16)]);
    await sameMeta();
    const env = { OSTREE_GPG_HOME: global };
    const deleted = await same(twins, (r) => ['gpg-sign', `--repo=${r}`, '--delete', 'main', 'bob', alice, 'DEADBEEF', alice.slice(-16)], { env });
    assert.equal(deleted.o.stdout, 'Signatures deleted: 1\n');
    await sameMeta();
    await same(twins, (r) => ['gpg-sign', `--repo=${r}`, '-d', 'main', bob.slice(-16), alice], { env });
    await sameMeta();
    await same(twins, (r) => ['gpg-sign', `--repo=${r}`, '-d', 'main', bob], { env });
    await sameMeta();
    await same(twins, (r) => ['gpg-sign', `--repo=${r}`, '-d', 'no/such', bob], { env });
    await same(twins, (r) => ['gpg-sign', `--repo=${r}`, '-d', 'x2', alice], { env });
    assert.ok((await detachedOf(twins.g, x2))!.equals((await detachedOf(twins.o, x2))!), 'detached metadata of x2');
  });
});
