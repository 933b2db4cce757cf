import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpParseError, MAX_HEAD_BYTES, ResponseParser, type ResponseHead } from '../../../src/net/http/response-parser.js';

/**
 * The HTTP/1.x response parser, fed responses whole, byte by byte and split at every position:
 * the body and the end it reports must not depend on how the bytes arrive.
 */

interface Parsed { heads: ResponseHead[]; body: Buffer; ended: boolean | null; extra: Buffer }

function parse(pieces: Buffer[], opts: { eof?: boolean; head?: boolean } = {}): Parsed {
  const out: Parsed = { heads: [], body: Buffer.alloc(0), ended: null, extra: Buffer.alloc(0) };
  const chunks: Buffer[] = [];
  const p = new ResponseParser({
    head: (h) => out.heads.push(h),
    body: (c) => chunks.push(Buffer.from(c)),
    end: (keepAlive) => { out.ended = keepAlive; },
  }, opts.head ?? false);
  const extra: Buffer[] = [];
  for (const piece of pieces) extra.push(p.feed(piece));
  if (opts.eof) p.eof();
  out.body = Buffer.concat(chunks);
  out.extra = Buffer.concat(extra);
  return out;
}

/** Every way of cutting `raw` in two, and byte by byte: all must parse alike. */
function allSplits(raw: string): Buffer[][] {
  const b = Buffer.from(raw, 'latin1');
  const ways: Buffer[][] = [[b], [...b].map((x) => Buffer.from([x]))];
  for (let i = 1; i < b.length; i++) ways.push([b.subarray(0, i), b.subarray(i)]);
  return ways;
}

describe('HTTP response parser', () => {
  it('a Content-Length body, however it is split; HTTP/1.1 keeps the connection', () => {
    const raw = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Twice: a\r\nx-twice: b\r\n\r\nhello world';
    for (const pieces of allSplits(raw)) {
      const r = parse(pieces);
      assert.equal(r.body.toString(), 'hello world');
      assert.equal(r.ended, true);
      assert.equal(r.heads.length, 1);
      assert.equal(r.heads[0]!.status, 200);
      assert.equal(r.heads[0]!.headers.get('x-twice'), 'a, b');
    }
  });

  it('chunked bodies with extensions and trailers, however they are split', () => {
    const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: y\r\n\r\n';
    for (const pieces of allSplits(raw)) {
      const r = parse(pieces);
      assert.equal(r.body.toString(), 'hello world');
      assert.equal(r.ended, true);
    }
  });

  it('which responses let the connection be reused', () => {
    const cases: Array<[string, boolean]> = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', true],
      ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', false],
      ['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', false],
      ['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n', true],
      ['HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n', true],
      ['HTTP/1.1 204 No Content\r\n\r\n', true],
    ];
    for (const [raw, keep] of cases) assert.equal(parse([Buffer.from(raw)]).ended, keep, raw);
  });

  it('a body without length ends when the connection closes, and the connection is not reused', () => {
    const r = parse([Buffer.from('HTTP/1.0 200 OK\r\n\r\nall of'), Buffer.from(' it')], { eof: true });
    assert.equal(r.body.toString(), 'all of it');
    assert.equal(r.ended, false);
  });

  it('skips 100 Continue; a HEAD response has no body; bytes past the response come back', () => {
    const r = parse([Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA')]);
    assert.deepEqual(r.heads.map((h) => h.status), [200]);
    assert.equal(r.body.toString(), 'ok');
    assert.equal(r.extra.toString(), 'EXTRA');
    const h = parse([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n')], { head: true });
    assert.equal(h.ended, true);
    assert.equal(h.body.length, 0);
  });

  it('refuses what it cannot read with certainty', () => {
    const bad: Array<[string, RegExp]> = [
      ['SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP\/1.x status line/],
      ['HTTP/2 200\r\n\r\n', /not an HTTP\/1.x status line/],
      ['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n', /bad header line/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n folded\r\n\r\n', /bad header line/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', /bad Content-Length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', /unsupported Transfer-Encoding/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY', /chunk not followed by CRLF/],
      ['HTTP/1.1 101 Switching Protocols\r\n\r\n', /switched protocols/],
    ];
    for (const [raw, msg] of bad) assert.throws(() => parse([Buffer.from(raw)]), (e: unknown) => e instanceof HttpParseError && msg.test(e.message), raw);
    assert.throws(() => parse([Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`)]), /headers longer than/);
  });

  it('a connection closed early is an error, wherever it stops', () => {
    const raw = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort';
    for (let i = 0; i < raw.length; i++) {
      assert.throws(() => parse([Buffer.from(raw.slice(0, i))], { eof: true }), HttpParseError, `cut at ${i}`);
    }
    assert.throws(() => parse([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')], { eof: true }), /before the end of the body/);
  });
});
