import { GroveError } from '../errors.js';
import { checksumStringProblem, fromHex, toHex } from '../format/checksum.js';

/**
 * How ostree names a static delta and where its files live. A delta is `TO` (from nothing, a
 * `--empty` delta) or `FROM-TO`; on disk each checksum is written in ostree's modified base64
 * (43 characters, no padding, `_` for `/`), and the name is split after its first two
 * characters into `deltas/XX/REST/`, which holds `superblock` and the parts `0`, `1`, ….
 */
export interface DeltaName { from: string | null; to: string }

/** `FROM-TO` or `TO`, as ostree prints and takes delta names. */
export function deltaId(d: DeltaName): string {
  return d.from === null ? d.to : `${d.from}-${d.to}`;
}

/** Parses a delta name as `static-delta show/delete` take it, naming it when it is not one. */
export function parseDeltaId(id: string): DeltaName {
  const dash = id.indexOf('-');
  const from = dash < 0 ? null : id.slice(0, dash);
  const to = dash < 0 ? id : id.slice(dash + 1);
  for (const c of from === null ? [to] : [from, to]) {
    const problem = checksumStringProblem(c);
    if (problem !== null) throw new GroveError('GROVE_BAD_CHECKSUM', problem);
  }
  return { from, to };
}

export function checksumToB64(checksum: string): string {
  return Buffer.from(fromHex(checksum)).toString('base64').slice(0, 43).replace(/\//g, '_');
}

/** The checksum a 43-character modified-base64 name stands for, or null when it is not one. */
export function checksumFromB64(s: string): string | null {
  if (!/^[A-Za-z0-9+_]{43}$/.test(s)) return null;
  const bytes = Buffer.from(`${s.replace(/_/g, '/')}=`, 'base64');
  return bytes.length === 32 ? toHex(bytes) : null;
}

/** `deltas/XX/REST`, relative to the repository. */
export function deltaRelDir(d: DeltaName): string {
  const name = d.from === null ? checksumToB64(d.to) : `${checksumToB64(d.from)}-${checksumToB64(d.to)}`;
  return `deltas/${name.slice(0, 2)}/${name.slice(2)}`;
}

/** `delta-indexes/XX/REST.index`, relative to the repository: the index of the deltas that lead to `commit`. */
export function deltaIndexRelPath(commit: string): string {
  const b = checksumToB64(commit);
  return `delta-indexes/${b.slice(0, 2)}/${b.slice(2)}.index`;
}

/**
 * The key under which a superblock's metadata holds part `i` inline (`--inline`), or, with
 * `commitmeta`, the to-commit's detached metadata: the part's path relative to the repository.
 */
export function inlineKey(d: DeltaName, what: number | 'commitmeta'): string {
  return `${deltaRelDir(d)}/${what}`;
}

/** The delta a `deltas/XX/REST` directory pair names, or null when it names none. */
export function deltaFromDirNames(d1: string, d2: string): DeltaName | null {
  const name = d1 + d2;
  const dash = name.indexOf('-');
  if (dash < 0) {
    const to = checksumFromB64(name);
    return to === null ? null : { from: null, to };
  }
  const from = checksumFromB64(name.slice(0, dash));
  const to = checksumFromB64(name.slice(dash + 1));
  return from === null || to === null ? null : { from, to };
}
