import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { archiveHeader, encodeDirTreeGeneric, fileHeaderPrefix, type FileHeader } from '../../src/format/objects.js';
import { objectPath } from '../../src/store/paths.js';
import type { RepoServer } from '../../src/net/serve.js';
import { tempDir } from '../helpers.js';
import { groveRun } from '../interop/support.js';
import { ALL_TOKEN, X86_TOKEN, builderCommit, smallTree, startReceiver } from './support.js';

/**
 * What a receiving server does with pushes it must not accept: each is refused with one line
 * and a status, and leaves nothing behind — no object of the refused request is stored, no ref
 * moves — while the server goes on serving everyone else.
 */

interface Reply { status: number; text: string }

function post(url: string, route: string, body: Buffer | string, token: string | null = ALL_TOKEN, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(`_grove/receive/v1/${route}`, url), {
      method, agent: false, headers: { ...(token !== null && { Authorization: `Bearer ${token}` }), 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');
const frame = (checksum: string, type: string, bytes: Uint8Array): Buffer => Buffer.concat([Buffer.from(`${checksum}.${type} ${bytes.length}\n`), bytes]);

/** A content object in archive form, with its true checksum. */
function archiveObject(header: FileHeader, data: Uint8Array): { checksum: string; bytes: Buffer } {
  const checksum = sha(Buffer.concat([fileHeaderPrefix(header), data]));
  const body = header.symlinkTarget === '' && (header.mode & 0o170000) === 0o100000 ? zlib.deflateRawSync(data) : Buffer.alloc(0);
  return { checksum, bytes: Buffer.concat([archiveHeader(header, BigInt(data.length)), body]) };
}

const fileHeader = (mode: number): FileHeader => ({ uid: 0, gid: 0, mode, rdev: 0, symlinkTarget: '', xattrs: [] });

describe('a receiving server refuses hostile pushes', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let srv: RepoServer;
  let server: string;
  let url: string;
  let base: { checksum: string; bytes: Buffer };
  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-push-hostile-'));
    ({ srv, repo: server, url } = await startReceiver(dir, { idleMs: 600 }));
    base = archiveObject(fileHeader(0o100644), Buffer.from('a good file\n'));
  });
  after(async () => {
    await srv.close();
    await cleanup();
  });

  const stored = (checksum: string, type: 'file' | 'dirtree' | 'commit'): boolean => fs.existsSync(objectPath(path.join(server, 'objects'), checksum, type, 'archive'));
  const nothingStored = (): void => assert.deepEqual(fs.readdirSync(path.join(server, 'objects')), []);

  it('no token, a wrong token: 401, and the body is not read', async () => {
    const body = frame(base.checksum, 'file', base.bytes);
    assert.deepEqual(await post(url, 'objects', body, null), { status: 401, text: 'push refused: no token (Authorization: Bearer TOKEN)\n' });
    assert.deepEqual(await post(url, 'objects', body, 'wrong-token-0123456789'), { status: 401, text: 'push refused: invalid token\n' });
    assert.deepEqual(await post(url, 'refs', '', 'wrong-token-0123456789', 'GET'), { status: 401, text: 'push refused: invalid token\n' });
    nothingStored();
  });

  it('an object whose bytes are not its checksum\'s: nothing of the request is stored', async () => {
    const bad = archiveObject(fileHeader(0o100644), Buffer.from('what it claims to be\n'));
    const other = archiveObject(fileHeader(0o100644), Buffer.from('something else\n'));
    const r = await post(url, 'objects', Buffer.concat([frame(base.checksum, 'file', base.bytes), frame(bad.checksum, 'file', other.bytes)]));
    assert.equal(r.status, 400);
    assert.match(r.text, new RegExp(`^file object ${bad.checksum} from pusher [^\\n]+ is corrupt: its content has checksum ${other.checksum}\\n$`));
    assert.equal(stored(base.checksum, 'file'), false, 'the good object of a refused request is not kept');
    nothingStored();
  });

  it('a dirtree with "..", "." or "/" as a name, a device node', async () => {
    for (const name of ['..', 'a/b', '.']) {
      const tree = encodeDirTreeGeneric({ files: [[name, base.checksum]], dirs: [] });
      const r = await post(url, 'objects', frame(sha(tree), 'dirtree', tree));
      assert.equal(r.status, 400, name);
      assert.match(r.text, new RegExp(`^dirtree object ${sha(tree)} from pusher .*: .*\\n$`));
      assert.equal(r.text.split('\n').length, 2);
    }
    const dev = archiveObject({ ...fileHeader(0o020644), rdev: 0x0103 }, Buffer.alloc(0));
    const r = await post(url, 'objects', frame(dev.checksum, 'file', dev.bytes));
    assert.equal(r.status, 400);
    assert.match(r.text, /Invalid file metadata mode 8612; not a valid file type\n$/);
    nothingStored();
  });

  it('an oversized metadata object is refused from its frame header, before its bytes are read', async () => {
    const huge = (11 << 20) + 1;
    const r = await post(url, 'objects', `${'0'.repeat(64)}.dirtree ${huge}\nxxxx`);
    assert.equal(r.status, 413);
    assert.match(r.text, new RegExp(`^dirtree object 0{64} from .* is ${huge} bytes, more than the 10485760 allowed\\n$`));
  });

  it('frames that lie: a bad header, a body cut short', async () => {
    assert.equal((await post(url, 'objects', 'not a frame\n')).text, "bad object frame header 'not a frame' (want CHECKSUM.TYPE SIZE)\n");
    const r = await post(url, 'objects', Buffer.concat([Buffer.from(`${base.checksum}.file ${base.bytes.length + 10}\n`), base.bytes]));
    assert.equal(r.status, 400);
    assert.match(r.text, /is cut short: \d+ of \d+ bytes\n$/);
    nothingStored();
  });

  it('a commit whose tree the server lacks, a ref moved to a commit never uploaded, a ref outside the token\'s prefixes', async () => {
    const builder = path.join(dir, 'builder');
    const commit = await builderCommit(builder, 'archive', 'os/x86_64/main', path.join(dir, 'tree'), smallTree(0));
    const commitBytes = fs.readFileSync(objectPath(path.join(builder, 'objects'), commit, 'commit', 'archive'));
    const r = await post(url, 'objects', frame(commit, 'commit', commitBytes));
    assert.equal(r.status, 409);
    assert.match(r.text, new RegExp(`^commit object ${commit} from .*: the server lacks \\S+ \\((dirmeta|dirtree)\\), which it reaches; push it first\\n$`));
    assert.equal(stored(commit, 'commit'), false);
    const never = await post(url, 'refs', JSON.stringify({ updates: [{ ref: 'os/x86_64/main', from: null, to: commit }] }), X86_TOKEN);
    assert.equal(never.status, 200);
    assert.deepEqual(JSON.parse(never.text), { results: [{ ref: 'os/x86_64/main', server: null, to: commit, status: 'refused', message: `os/x86_64/main: commit ${commit} was never pushed to the server` }] });
    const outside = await post(url, 'refs', JSON.stringify({ updates: [{ ref: 'os/arm64/main', from: null, to: commit }] }), X86_TOKEN);
    assert.deepEqual(outside, { status: 403, text: 'token of line 2 of the tokens file may not move ref os/arm64/main\n' });
    assert.equal(fs.existsSync(path.join(server, 'refs/heads/os')), false);
  });

  it('a ref whose server value is not the one the builder saw is not swapped', async () => {
    const builder = path.join(dir, 'cas');
    const c1 = await builderCommit(builder, 'archive', 'os/x86_64/cas', path.join(dir, 'cas-tree'), smallTree(1));
    assert.equal((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url])).code, 0);
    const c2 = await builderCommit(builder, 'archive', 'os/x86_64/cas', path.join(dir, 'cas-tree'), smallTree(2));
    assert.equal((await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url, 'os/x86_64/cas'])).code, 0);
    // Another builder's commit, complete on the server, on a ref of its own.
    const c3 = await builderCommit(path.join(dir, 'cas-other'), 'archive', 'os/x86_64/side', path.join(dir, 'cas-tree'), smallTree(9));
    assert.equal((await groveRun(['push', `--repo=${path.join(dir, 'cas-other')}`, `--token=${X86_TOKEN}`, url])).code, 0);
    // Having seen c1, it asks to move the ref from c1 to c3: the ref names c2 now, so nothing moves.
    const stale = await post(url, 'refs', JSON.stringify({ updates: [{ ref: 'os/x86_64/cas', from: c1, to: c3 }] }), X86_TOKEN);
    assert.deepEqual(JSON.parse(stale.text).results, [{
      ref: 'os/x86_64/cas', server: c2, to: c3, status: 'refused',
      message: `os/x86_64/cas: the server has ${c2}, which ${c3} does not build on (another builder pushed it; pull and rebuild, or push --force to replace it)`,
    }]);
    assert.equal(fs.readFileSync(path.join(server, 'refs/heads/os/x86_64/cas'), 'utf8').trim(), c2);
    // With force, it moves.
    const forced = await post(url, 'refs', JSON.stringify({ updates: [{ ref: 'os/x86_64/cas', from: c1, to: c3 }], force: true }), X86_TOKEN);
    assert.equal(JSON.parse(forced.text).results[0].status, 'moved');
    assert.equal(fs.readFileSync(path.join(server, 'refs/heads/os/x86_64/cas'), 'utf8').trim(), c3);
  });

  it('a client that stalls mid-upload is cut after the idle time, and others are served meanwhile', async () => {
    const sock = net.connect(srv.port, '127.0.0.1');
    const closed = new Promise<number>((resolve) => sock.on('close', () => resolve(Date.now())));
    sock.on('error', () => undefined);
    const started = Date.now();
    sock.write(`POST /_grove/receive/v1/objects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ALL_TOKEN}\r\nContent-Length: 1000000\r\n\r\n${base.checksum}.file 999`);
    // While it holds its connection, a whole push goes through.
    const builder = path.join(dir, 'meanwhile');
    await builderCommit(builder, 'archive', 'os/x86_64/other', path.join(dir, 'meanwhile-tree'), smallTree(3));
    const r = await groveRun(['push', `--repo=${builder}`, `--token=${X86_TOKEN}`, url]);
    assert.equal(r.code, 0, r.stderr);
    const at = await closed;
    assert.ok(at - started >= 500 && at - started < 5000, `cut after ${at - started} ms`);
  });
});
