import fs from 'node:fs/promises';
import path from 'node:path';
import { toHex } from '../../src/format/checksum.js';
import { sha256 } from '../../src/format/hash.js';
import { Variant, decodeCommit, encodeCommit, encodeDirTreeGeneric } from '../../src/format/objects.js';

/**
 * Writes into archive repository `repo` a commit whose root dirtree holds a file named `name`
 * (and, with `alsoDir`, a directory of the same name), with checksums that are all correct: a
 * server can serve it, and only the client's validation can refuse it. Points refs/heads/evil
 * at it; returns the commit checksum.
 */
export async function craftCommit(repo: string, name: string, alsoDir: boolean): Promise<string> {
  const main = (await fs.readFile(path.join(repo, 'refs/heads/main'), 'utf8')).trim();
  const base = decodeCommit(await fs.readFile(objectFile(repo, main, 'commit')));
  let content = '';
  for (const d of await fs.readdir(path.join(repo, 'objects'))) {
    const f = (await fs.readdir(path.join(repo, 'objects', d))).find((n) => n.endsWith('.filez'));
    if (f) { content = d + f.slice(0, -'.filez'.length); break; }
  }
  const tree = encodeDirTreeGeneric({
    files: [[name, content]],
    dirs: alsoDir ? [[name, base.rootTree, base.rootMeta]] : [],
  });
  const treeCsum = await store(repo, tree, 'dirtree');
  // Bound to the ref it is served as, so that only the dirtree checks can refuse it.
  const commit = encodeCommit({ ...base, parent: null, rootTree: treeCsum, subject: 'evil', metadata: [['ostree.ref-binding', new Variant('as', ['evil'])]] });
  const csum = await store(repo, commit, 'commit');
  await fs.writeFile(path.join(repo, 'refs/heads/evil'), `${csum}\n`);
  return csum;
}

function objectFile(repo: string, csum: string, type: string): string {
  return path.join(repo, 'objects', csum.slice(0, 2), `${csum.slice(2)}.${type}`);
}

async function store(repo: string, bytes: Uint8Array, type: string): Promise<string> {
  const csum = toHex(sha256(bytes));
  await fs.mkdir(path.dirname(objectFile(repo, csum, type)), { recursive: true });
  await fs.writeFile(objectFile(repo, csum, type), bytes);
  return csum;
}
