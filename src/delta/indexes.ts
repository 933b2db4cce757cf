import fs from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { checksumFromB64 } from './names.js';

/**
 * The commits that have a delta index (`delta-indexes/XX/REST.index`, the name the commit's
 * checksum in modified base64), as `ostree_repo_list_static_delta_indexes` lists them: in
 * directory order, only two-character directories and regular files of the right length.
 */
export function listDeltaIndexes(repoPath: string): string[] {
  const base = path.join(repoPath, 'delta-indexes');
  const out: string[] = [];
  for (const d of entries(base)) {
    if (!d.isDirectory() || d.name.length !== 2) continue;
    for (const f of entries(path.join(base, d.name))) {
      if (!f.isFile() || f.name.length !== 41 + '.index'.length || !f.name.endsWith('.index')) continue;
      const c = checksumFromB64(d.name + f.name.slice(0, 41));
      if (c !== null) out.push(c);
    }
  }
  return out;
}

/** In the order the file system lists them, as ostree reads them (readdirSync sorts). */
function entries(dir: string): fs.Dirent[] {
  try {
    const d = fs.opendirSync(dir);
    const out: fs.Dirent[] = [];
    try {
      for (let e = d.readSync(); e !== null; e = d.readSync()) out.push(e);
    } finally {
      d.closeSync();
    }
    return out;
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}
