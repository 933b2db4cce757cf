import { createRequire } from 'node:module';
import type * as Binding from '@napi-rs/xattr';
import { GroveError } from '../errors.js';
import { compareNames, type Xattr } from '../format/objects.js';

/**
 * Extended attributes through @napi-rs/xattr, which uses the l*xattr calls (never follows
 * symlinks, as ostree requires). The binding reports failures as generic errors with the OS
 * message, so errors are mapped here to name the path.
 *
 * Loaded with require() on first use: an ESM import of the package (a CommonJS loader that
 * picks the platform's binary) cost 18 ms of every start-up here, require() 3 ms (medians of 15
 * runs), and many commands never touch an xattr.
 */
let binding: typeof Binding | undefined;
const native = (): typeof Binding => (binding ??= createRequire(import.meta.url)('@napi-rs/xattr') as typeof Binding);

/** Every xattr of `path`, sorted by name as ostree stores them. */
export function readXattrs(path: string): Xattr[] {
  let names: string[];
  try {
    names = native().listAttributesSync(path);
  } catch (e) {
    if (/not supported|os error 95/i.test(String((e as Error).message))) return [];
    throw xattrError('read extended attributes of', path, e);
  }
  const out: Xattr[] = [];
  for (const name of names) {
    let value: Buffer | null;
    try {
      value = native().getAttributeSync(path, name);
    } catch (e) {
      throw xattrError(`read extended attribute ${name} of`, path, e);
    }
    if (value !== null) out.push([name, new Uint8Array(value)]);
  }
  return out.sort((a, b) => compareNames(a[0], b[0]));
}

export function getXattr(path: string, name: string): Uint8Array | null {
  try {
    const v = native().getAttributeSync(path, name);
    return v === null ? null : new Uint8Array(v);
  } catch (e) {
    if (/No data available|os error 61/i.test(String((e as Error).message))) return null;
    throw xattrError(`read extended attribute ${name} of`, path, e);
  }
}

export function setXattr(path: string, name: string, value: Uint8Array): void {
  try {
    native().setAttributeSync(path, name, value);
  } catch (e) {
    throw xattrError(`set extended attribute ${name} on`, path, e);
  }
}

export function setXattrs(path: string, xattrs: Xattr[]): void {
  for (const [name, value] of xattrs) setXattr(path, name, value);
}

function xattrError(what: string, path: string, e: unknown): GroveError {
  const msg = (e as Error).message ?? String(e);
  const code = /os error 2\b/.test(msg) ? 'GROVE_NOT_FOUND' : /os error 13\b|os error 1\b/.test(msg) ? 'GROVE_PERMISSION' : 'GROVE_XATTR';
  return new GroveError(code, `cannot ${what} ${path}: ${msg}`, { path, cause: e });
}
