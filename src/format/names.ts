import { GroveError } from '../errors.js';

// ostree's OSTREE_REF_REGEXP: fragments of [A-Za-z0-9_][-._A-Za-z0-9]* joined by '/'.
const REF_RE = /^[A-Za-z0-9_][-._A-Za-z0-9]*(?:\/[A-Za-z0-9_][-._A-Za-z0-9]*)*$/;
const REMOTE_RE = /^[A-Za-z0-9_][-._A-Za-z0-9]*$/;

/** True when `ref` is a valid ref name (without a `remote:` prefix). */
export function isValidRef(ref: string): boolean {
  return REF_RE.test(ref);
}

/** Throws GROVE_BAD_REF, in ostree's words, unless `ref` is a valid ref name. */
export function validateRef(ref: string): string {
  if (!REF_RE.test(ref)) throw new GroveError('GROVE_BAD_REF', `Invalid refspec ${ref}`);
  return ref;
}

/** Throws GROVE_BAD_REF unless `name` is a valid remote name. */
export function validateRemoteName(name: string): string {
  if (!REMOTE_RE.test(name)) throw new GroveError('GROVE_BAD_REF', `Invalid remote name ${name}`);
  return name;
}

/**
 * Splits `remote:ref` into its parts; a plain ref has remote null. As ostree_parse_refspec, the
 * whole of `spec` must match `(REMOTE:)?REF`, and any failure names all of it.
 */
export function parseRefspec(spec: string): { remote: string | null; ref: string } {
  const colon = spec.indexOf(':');
  const remote = colon < 0 ? null : spec.slice(0, colon);
  const ref = colon < 0 ? spec : spec.slice(colon + 1);
  if ((remote !== null && !REMOTE_RE.test(remote)) || !REF_RE.test(ref)) throw new GroveError('GROVE_BAD_REF', `Invalid refspec ${spec}`);
  return { remote, ref };
}

/**
 * A directory entry name as stored in a dirtree: non-empty, not `.` or `..`, no `/` or NUL.
 * Names come from untrusted objects too, so this guards every path we build from them.
 */
export function isValidFileName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

export function validateFileName(name: string, where: string): string {
  if (!isValidFileName(name)) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: invalid file name ${JSON.stringify(name)}`);
  }
  return name;
}

// GLib's g_dbus_is_interface_name, which ostree uses for collection IDs: two or more elements
// of [A-Za-z_][A-Za-z0-9_]* joined by '.', 255 characters at most.
const COLLECTION_ID_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/** True when `id` is a valid collection ID (a reverse DNS name, as ostree requires). */
export function isValidCollectionId(id: string): boolean {
  return id.length <= 255 && COLLECTION_ID_RE.test(id);
}

/** Throws GROVE_BAD_OPTION, in ostree's words, unless `id` is a valid collection ID. */
export function validateCollectionId(id: string): string {
  if (!isValidCollectionId(id)) {
    throw new GroveError('GROVE_BAD_OPTION', `Invalid collection ID ${id}`);
  }
  return id;
}
