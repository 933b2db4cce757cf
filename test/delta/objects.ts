import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readXattrs } from '../../src/xattr/xattrs.js';

/**
 * Every object file of a repository as a line: its name, type and mode, its bytes' SHA-256 (a
 * symlink's target) and its xattrs — what twin repositories must agree on after grove and
 * ostree stored the same objects.
 */
export function objectsOf(repo: string): string[] {
  const out: string[] = [];
  const base = path.join(repo, 'objects');
  for (const d of fs.readdirSync(base).sort()) {
    for (const f of fs.readdirSync(path.join(base, d)).sort()) {
      const p = path.join(base, d, f);
      const st = fs.lstatSync(p);
      const body = st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      const x = readXattrs(p).map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`).join(',');
      out.push(`${d}/${f} ${(st.mode & 0o170777).toString(8)} ${body} ${x}`);
    }
  }
  return out;
}
