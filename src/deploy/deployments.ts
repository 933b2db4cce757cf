import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { commitMetaValue, decodeCommit } from '../format/objects.js';
import { readMetadataSync } from '../repo/metadata.js';
import { objectExists } from '../repo/paths.js';

/**
 * The deployments of a sysroot, read the way ostree reads them: the live boot version is where
 * `boot/loader` points (`loader.0` or `loader.1`); each Boot Loader Specification entry there
 * names, in its `ostree=` kernel argument, a `/ostree/boot.N/OS/BOOTCSUM/SERIAL` link, which the
 * current sub-version `ostree/boot.N.M` resolves to `ostree/deploy/OS/deploy/CHECKSUM.SERIAL`.
 * Entries are ordered by their `version` field, highest first: the first is the default.
 */
export interface Deployment {
  index: number;
  osname: string;
  checksum: string;
  deploySerial: number;
  bootChecksum: string;
  bootSerial: number;
  /** The deployment's `.origin` keyfile, or null when it has none. */
  origin: KeyFile | null;
  /** The kernel arguments of its boot entry, without `ostree=`. */
  kargs: string[];
  /** The checked-out tree. */
  path: string;
}

export interface BootEntry { file: string; fields: Map<string, string> }

/** A BLS entry: `key value` lines. */
export function parseBootEntry(text: string, file: string): BootEntry {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s+(.*?)\s*$/.exec(line);
    if (m && !line.trimStart().startsWith('#')) fields.set(m[1]!, m[2]!);
  }
  return { file, fields };
}

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'EINVAL')) return null;
    throw e;
  }
}

/** The live boot version (0 or 1) from the `boot/loader` symlink; 0 when there is none. */
export function bootVersion(root: string): number {
  const t = readlinkOrNull(path.join(root, 'boot/loader'));
  if (t === null) return 0;
  const m = /^loader\.([01])$/.exec(t);
  if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `${root}/boot/loader points to '${t}', not loader.0 or loader.1`);
  return Number(m[1]);
}

/** The sub-version (0 or 1) of boot version `v`, from `ostree/boot.V`. */
export function subBootVersion(root: string, v: number): number {
  const t = readlinkOrNull(path.join(root, `ostree/boot.${v}`));
  if (t === null) return 0;
  const m = new RegExp(`^boot\\.${v}\\.([01])$`).exec(t);
  if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `${root}/ostree/boot.${v} points to '${t}'`);
  return Number(m[1]);
}

/** Boot entries of boot version `v`, default first (highest `version`, compared as ostree does). */
export function bootEntries(root: string, v: number): BootEntry[] {
  const dir = path.join(root, `boot/loader.${v}/entries`);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.conf'));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const entries = names.map((n) => parseBootEntry(fs.readFileSync(path.join(dir, n), 'utf8'), path.join(dir, n)));
  return entries.sort((a, b) => compareVersions(b.fields.get('version') ?? '', a.fields.get('version') ?? ''));
}

/** strverscmp-like: digit runs compare as numbers. */
function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return 0;
}

export function listDeployments(sysroot: string): Deployment[] {
  const root = path.resolve(sysroot);
  if (!fs.existsSync(path.join(root, 'ostree/deploy'))) {
    throw new GroveError('GROVE_NOT_SYSROOT', `${root} is not an ostree sysroot (no ostree/deploy)`);
  }
  const v = bootVersion(root);
  const sub = subBootVersion(root, v);
  return bootEntries(root, v).map((entry, index) => {
    const options = (entry.fields.get('options') ?? '').split(/\s+/).filter(Boolean);
    const arg = options.find((o) => o.startsWith('ostree='));
    const m = arg && /^ostree=\/ostree\/boot\.[01]\/([^/]+)\/([0-9a-f]{64})\/(\d+)$/.exec(arg);
    if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `${entry.file}: no valid ostree= kernel argument`);
    const [, osname, bootChecksum, bootSerial] = m as unknown as [string, string, string, string];
    const link = path.join(root, `ostree/boot.${v}.${sub}`, osname, bootChecksum, bootSerial);
    const target = readlinkOrNull(link);
    const t = target && /(?:^|\/)deploy\/([^/]+)\/deploy\/([0-9a-f]{64})\.(\d+)$/.exec(target);
    if (!t) throw new GroveError('GROVE_BAD_SYSROOT', `${link} does not point to a deployment`);
    const [, os2, checksum, deploySerial] = t as unknown as [string, string, string, string];
    const dir = path.join(root, 'ostree/deploy', os2, 'deploy', `${checksum}.${deploySerial}`);
    let origin: KeyFile | null = null;
    try {
      origin = KeyFile.parse(fs.readFileSync(`${dir}.origin`, 'utf8'), `${dir}.origin`);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    return {
      index, osname: os2, checksum, deploySerial: Number(deploySerial), bootChecksum, bootSerial: Number(bootSerial),
      origin, kargs: options.filter((o) => o !== arg), path: dir,
    };
  });
}

/** What `ostree admin status` prints for a sysroot that is not the running system. */
export function describeStatus(sysroot: string, deployments: Deployment[]): string {
  if (deployments.length === 0) return 'No deployments.\n';
  const objects = path.join(path.resolve(sysroot), 'ostree/repo/objects');
  let out = '';
  for (const d of deployments) {
    out += `  ${d.osname} ${d.checksum}.${d.deploySerial}\n`;
    let version: string | undefined;
    if (objectExists(objects, d.checksum, 'commit', 'bare')) {
      const v = commitMetaValue(decodeCommit(readMetadataSync(objects, 'bare', d.checksum, 'commit')), 'version');
      if (v?.type === 's') version = v.value as string;
    }
    if (version !== undefined) out += `    Version: ${version}\n`;
    if (d.origin?.get('libostree-transient', 'pinned') === 'true') out += '    Pinned: yes\n';
    if (d.origin === null) out += '    origin: none\n';
    else {
      const refspec = d.origin.get('origin', 'refspec');
      out += refspec === undefined ? '    origin: <unknown origin type>\n' : `    origin refspec: ${refspec}\n`;
    }
  }
  return out;
}
