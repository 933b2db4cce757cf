import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { sha256, sha256Factory, HASH_BACKENDS } from '../../src/format/hash.js';
import { toHex } from '../../src/format/checksum.js';
import {
  decodeCommit, decodeDirMeta, decodeDirTree, encodeCommit, encodeDirMeta, encodeDirTree, encodeDirTreeGeneric,
  parseArchiveHeader, fileHeaderPrefix, archiveHeader, decodeBareUserMeta, encodeBareUserMeta, compareNames,
} from '../../src/format/objects.js';
import { deflateRaw, inflateRaw, createDeflater, createInflater, COMPRESS_BACKENDS } from '../../src/format/compress.js';
import { describeCommit } from '../../src/inspect/describe.js';

/** Objects the real ostree 2022.7 wrote (fixtures/ostree-objects/make-vectors.sh). */
interface Vec { checksum: string; type: string; hex?: string; symlink?: string; ostreemeta?: string }
const vectors = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/ostree-objects/vectors.json'), 'utf8')) as {
  repos: Record<string, { commit: string; objects: Vec[] }>;
};
const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

describe('metadata objects written by ostree', () => {
  for (const [mode, repo] of Object.entries(vectors.repos)) {
    for (const o of repo.objects.filter((x) => ['commit', 'dirtree', 'dirmeta'].includes(x.type))) {
      test(`${mode} ${o.type} ${o.checksum.slice(0, 12)} decodes and re-encodes to the same bytes`, () => {
        const b = bytes(o.hex!);
        assert.equal(toHex(sha256(b)), o.checksum);
        const again = o.type === 'commit' ? encodeCommit(decodeCommit(b)) : o.type === 'dirtree' ? encodeDirTree(decodeDirTree(b)) : encodeDirMeta(decodeDirMeta(b));
        assert.deepEqual(again, b);
      });
    }
  }

  test('the commit decodes to what was committed', () => {
    const repo = vectors.repos['archive']!;
    const c = repo.objects.find((o) => o.checksum === repo.commit)!;
    const commit = decodeCommit(bytes(c.hex!));
    assert.equal(commit.subject, 'golden subject');
    assert.equal(commit.body, 'golden body');
    assert.equal(commit.timestamp, 1577836800n);
    assert.equal(commit.parent, null);
    assert.deepEqual(commit.metadata.map(([k]) => k), ['version', 'ostree.ref-binding']);
    assert.match(describeCommit(repo.commit, commit), /^commit [0-9a-f]{64}\nContentChecksum:  [0-9a-f]{64}\nDate:  2020-01-01 00:00:00 \+0000\nVersion: 1\.0\n\n    golden subject\n\n    golden body\n\n$/);
  });
});

describe('archive content objects written by ostree', () => {
  const repo = vectors.repos['archive']!;
  for (const o of repo.objects.filter((x) => x.type === 'filez')) {
    for (const backend of HASH_BACKENDS) {
      test(`${o.checksum.slice(0, 12)}: header + inflated content hash to the name (${backend})`, async () => {
        const b = bytes(o.hex!);
        const { header, size, dataOffset } = parseArchiveHeader(b, o.checksum);
        const isLink = (header.mode & 0o170000) === 0o120000;
        const content = isLink ? new Uint8Array(0) : inflateRaw(b.subarray(dataOffset), Number(size));
        assert.equal(BigInt(content.length), isLink ? 0n : size);
        const h = (await sha256Factory(backend))();
        h.update(fileHeaderPrefix(header));
        h.update(content);
        assert.equal(toHex(h.digest()), o.checksum);
        // Our header encoder reproduces ostree's header bytes exactly.
        assert.deepEqual(archiveHeader(header, size), b.subarray(0, dataOffset));
      });
    }
  }
});

describe('bare-user objects written by ostree', () => {
  const repo = vectors.repos['bare-user']!;
  for (const o of repo.objects.filter((x) => x.type === 'file')) {
    test(`${o.checksum.slice(0, 12)}: user.ostreemeta + content hash to the name`, () => {
      const meta = decodeBareUserMeta(bytes(o.ostreemeta!), o.checksum);
      assert.deepEqual(encodeBareUserMeta(meta), bytes(o.ostreemeta!));
      const isLink = (meta.mode & 0o170000) === 0o120000;
      let content = bytes(o.hex!);
      let target = '';
      if (isLink) {
        // ostree stores the target followed by a NUL.
        assert.equal(content[content.length - 1], 0);
        target = Buffer.from(content.subarray(0, -1)).toString('utf8');
        content = new Uint8Array(0);
      }
      const prefix = fileHeaderPrefix({ uid: meta.uid, gid: meta.gid, mode: meta.mode, rdev: 0, symlinkTarget: target, xattrs: meta.xattrs });
      assert.equal(toHex(sha256(Buffer.concat([prefix, content]))), o.checksum);
    });
  }
});

describe('compression backends', () => {
  const data = Buffer.from('grove '.repeat(10000) + 'tail');
  for (const c of COMPRESS_BACKENDS) {
    for (const d of COMPRESS_BACKENDS) {
      test(`${c} deflate is read back by ${d} inflate`, () => {
        const z = deflateRaw(data, 6, c);
        assert.ok(z.length < data.length / 10);
        assert.deepEqual(Buffer.from(inflateRaw(z, data.length, d)), data);
      });
    }
    test(`${c} raw deflate is readable by zlib as ostree reads it`, () => {
      assert.deepEqual(zlib.inflateRawSync(deflateRaw(data, 9, c)), data);
    });
  }
});

describe('dirtree fast serializer', () => {
  // Deterministic pseudo-random trees: sizes chosen to cross the 1-, 2- and 4-byte offset widths
  // of GVariant's framing (containers over 255 and over 65,535 bytes), names of every length up
  // to 255 bytes and with multi-byte UTF-8.
  let state = 12345;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
  const sum = () => Array.from({ length: 64 }, () => '0123456789abcdef'[rand(16)]).join('');
  const name = (i: number) => {
    const len = 1 + rand(rand(4) === 0 ? 250 : 20);
    return `${String(i).padStart(5, "0")}-${"é".repeat(rand(3))}${"n".repeat(len)}`.slice(0, 255);
  };
  for (const [files, dirs] of [[0, 0], [1, 0], [0, 1], [3, 2], [7, 0], [0, 6], [40, 3], [300, 40], [2500, 10]] as const) {
    test(`${files} files and ${dirs} dirs: same bytes as the general encoder`, () => {
      for (let round = 0; round < 5; round++) {
        const t = {
          files: Array.from({ length: files }, (_, i) => [name(i), sum()] as [string, string]),
          // Directory names differ from file names: a name that is both is refused on decode.
          dirs: Array.from({ length: dirs }, (_, i) => [name(files + i), sum(), sum()] as [string, string, string]),
        };
        assert.deepEqual(Buffer.from(encodeDirTree(t)), Buffer.from(encodeDirTreeGeneric(t)));
        assert.deepEqual(decodeDirTree(encodeDirTree(t)), t);
      }
    });
  }
});

describe('dirtree names from untrusted sources', () => {
  const c = 'ab'.repeat(32);
  for (const bad of ['', '.', '..', 'a/b']) {
    test(`${JSON.stringify(bad)} is refused`, () => {
      assert.throws(() => decodeDirTree(encodeDirTreeGeneric({ files: [[bad, c]], dirs: [] })), /invalid file name/);
    });
  }
  test('a name that is both a file and a directory is refused', () => {
    assert.throws(() => decodeDirTree(encodeDirTreeGeneric({ files: [['x', c]], dirs: [['x', c, c]] })), /"x" is both a file and a directory/);
  });
});

describe('streaming codecs', () => {
  // Compressible data whose back-references cross chunk boundaries, fed from one reused buffer
  // as the commit path does: each backend's stream must round-trip through the other's.
  const total = 3 << 20;
  const source = Buffer.alloc(total);
  let x = 7;
  for (let i = 0; i < total; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    source[i] = i % 4096 < 2048 ? 97 + (x % 4) : source[i - 2048 + (x % 7)] ?? 0;
  }
  test('streamed deflate runs node:zlib whatever the backend (fflate\'s streaming Deflate is broken)', () => {
    assert.equal(createDeflater(6).codec, 'node');
    // libdeflate has no streams: its backend streams with node:zlib.
    for (const c of COMPRESS_BACKENDS) assert.equal(createInflater(c).codec, c === 'libdeflate' ? 'node' : c);
  });
  for (const d of COMPRESS_BACKENDS) {
    test(`node:zlib streaming deflate from a reused buffer, ${d} streaming inflate`, async () => {
      const deflater = createDeflater(6);
      const buf = Buffer.alloc(100_003);
      const compressed: Uint8Array[] = [];
      for (let pos = 0; pos < total;) {
        const n = Math.min(buf.length, total - pos);
        source.copy(buf, 0, pos, pos + n);
        pos += n;
        compressed.push(...(await deflater.push(buf.subarray(0, n), pos >= total)));
        buf.fill(0xee);
      }
      const inflater = createInflater(d);
      const out: Uint8Array[] = [];
      for (const piece of compressed) out.push(...(await inflater.push(piece, false)));
      out.push(...(await inflater.push(new Uint8Array(0), true)));
      assert.ok(Buffer.concat(out).equals(source), 'round trip');
    });
  }
  for (const c of COMPRESS_BACKENDS) {
    test(`streamed deflate, and ${c} one-shot deflate, of an input fflate 0.8.3's streaming Deflate got wrong`, async () => {
      // The first 146 bytes of a .jar under this machine's /usr: fflate's streaming Deflate made
      // a stream that inflates to "invalid distance too far back" (seen as two corrupt objects
      // in a benchmark commit of /usr with the fflate backend).
      const input = Buffer.from('UEsDBBQAAAAAALh91FoAAAAAAAAAAAAAAAAJAAQATUVUQS1JTkYv/soAAFBLAwQUAAAACAC4fdRaafYEliwAAAAu'
        + 'AAAAFAAAAE1FVEEtSU5GL01BTklGRVNULk1G803My0xLLS7RDUstKs7Mz7NSMNQz4HIuSk0sSU3Rdaq0UkgGs7MSi4q5uABQSwMEFAAAAAA=', 'base64');
      assert.equal(input.length, 146);
      const deflater = createDeflater(6);
      const out = await deflater.push(input, true);
      assert.ok(zlib.inflateRawSync(Buffer.concat(out)).equals(input));
      assert.ok(zlib.inflateRawSync(deflateRaw(input, 6, c)).equals(input), 'one-shot deflate');
    });
    test(`${c} inflate stops at the announced size: a bomb costs no more memory than its bound`, async () => {
      // 256 MiB of zeros deflate to about 256 KB: fed whole, an unbounded inflater would hold it all.
      const bomb = zlib.deflateRawSync(Buffer.alloc(256 << 20));
      assert.throws(() => inflateRaw(bomb, 1000, c), /more than its announced size/, 'one-shot');
      const inflater = createInflater(c, { maxOutput: 1 << 20 });
      let produced = 0;
      await assert.rejects(async () => {
        for (let pos = 0; pos < bomb.length; pos += 64 << 10) for (const o of await inflater.push(bomb.subarray(pos, pos + (64 << 10)), false)) produced += o.length;
      });
      assert.ok(inflater.overflowed, 'the codec says why it stopped');
      assert.ok(produced <= 1 << 20, `handed out ${produced} bytes`);
    });
    test(`${c} streaming inflate of corrupt data fails rather than hangs`, async () => {
      // A stored block of 40,000 bytes, then a block of the reserved type 3: invalid mid-stream.
      const stored = Buffer.alloc(5 + 40_000, 0x61);
      stored.writeUInt8(0x00, 0);
      stored.writeUInt16LE(40_000, 1);
      stored.writeUInt16LE(~40_000 & 0xffff, 3);
      const bad = Buffer.concat([stored, Buffer.from([0x07]), source.subarray(0, 200_000)]);
      const inflater = createInflater(c);
      await assert.rejects(async () => {
        for (let pos = 0; pos < bad.length; pos += 16384) await inflater.push(bad.subarray(pos, pos + 16384), false);
        await inflater.push(new Uint8Array(0), true);
      });
    });
  }
});

test('compareNames orders names as their UTF-8 bytes (what ostree sorts dirtree entries by)', () => {
  // Code points around the places where UTF-16 order and UTF-8 order part: below and above the
  // surrogates, the top of the BMP, astral planes; each name also against its own prefixes.
  const units = ['a', 'z', '\u007f', '\u00e9', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffef', '\ufffd', '\uffff', '\u{10000}', '\u{1f600}', '\u{10ffff}'];
  const names: string[] = [];
  for (const x of units) for (const y of units) names.push(x + y, x);
  for (const a of names) {
    for (const b of names) {
      const want = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.equal(Math.sign(compareNames(a, b)), want, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  }
});
