import { GroveError } from '../errors.js';
import { S_IFMT, isDir, isLink, isReg } from '../format/mode.js';
import { decodeCommit, decodeDirMeta, decodeDirTree, decodeAt, COMMITMETA_TYPE, type FileHeader, type ObjectType } from '../format/objects.js';
import type { RepoMode } from '../repo/mode.js';

/**
 * The rules every object must pass before it is stored under its checksum, whoever wrote it:
 * a commit's own walk, a pull from a server, a local import, a signature. They are ostree
 * 2022.7's (`ostree_validate_structureof_*`, `_ostree_validate_bareuseronly_mode`), plus grove's
 * own on symlink targets, and they live here only, so that no writer can skip one.
 */

/** Bits a mode may carry besides its type: permissions, setuid, setgid, sticky. */
const PERMISSION_BITS = 0o7777;
/** Linux's PATH_MAX: no symlink target a kernel resolves is longer. */
const MAX_SYMLINK_TARGET = 4096;

function corrupt(where: string, message: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${message}`);
}

/** ostree's `validate_stat_mode_perms`: nothing but a type and permission bits. */
function checkModeBits(mode: number, where: string): void {
  if ((mode & ~(S_IFMT | PERMISSION_BITS)) !== 0) throw corrupt(where, `Invalid mode ${mode}; invalid bits in mode`);
}

/**
 * A content object's header as a repository of `mode` may store it: a regular file or a
 * symlink (ostree: "not a valid file type" otherwise), no stray mode bits, a symlink target a
 * kernel could resolve (non-empty, no NUL, at most PATH_MAX), and in bare-user-only no bits
 * beyond 0775 on a regular file (no setuid, setgid, sticky or world-writable files there).
 */
export function validateFileHeader(h: FileHeader, mode: RepoMode, where: string): void {
  if (!isReg(h.mode) && !isLink(h.mode)) throw corrupt(where, `Invalid file metadata mode ${h.mode}; not a valid file type`);
  checkModeBits(h.mode, where);
  if (isLink(h.mode)) {
    const t = h.symlinkTarget;
    if (t === '' || t.includes('\0') || Buffer.byteLength(t) > MAX_SYMLINK_TARGET) throw corrupt(where, `invalid symlink target ${JSON.stringify(t.slice(0, 80))}`);
  }
  if (mode === 'bare-user-only' && isReg(h.mode)) {
    const invalid = h.mode & PERMISSION_BITS & ~0o775;
    if (invalid !== 0) {
      throw new GroveError('GROVE_BAD_MODE', `${where}: invalid mode 0${(h.mode & ~S_IFMT).toString(8).padStart(4, '0')} with bits 0${invalid.toString(8).padStart(4, '0')} for a bare-user-only repository`);
    }
  }
}

/**
 * `pull --bareuseronly-files`: the bare-user-only rule for regular files (no bits outside 0775)
 * applied to a pull into any repository, in ostree's words.
 */
export function validateBareUserOnlyFile(h: FileHeader, checksum: string): void {
  if (!isReg(h.mode)) return;
  const invalid = h.mode & PERMISSION_BITS & ~0o775;
  if (invalid !== 0) {
    throw new GroveError('GROVE_BAD_MODE', `Content object ${checksum}: invalid mode 0${h.mode.toString(8).padStart(4, '0')} with bits 0${invalid.toString(8).padStart(4, '0')}`);
  }
}

/**
 * A metadata object's bytes: a normal-form GVariant of its type (the decoders refuse anything
 * else), with ostree's structural rules on top: a dirmeta is a directory with valid mode bits;
 * a dirtree's names cannot escape (no `.`, `..`, `/`, empty) and its checksums are 32 bytes; a
 * commit's checksums are 32 bytes and its metadata keys non-empty.
 */
export function validateMetadata(type: ObjectType, bytes: Uint8Array, where: string): void {
  switch (type) {
    case 'dirmeta': {
      const m = decodeDirMeta(bytes, where);
      if (!isDir(m.mode)) throw corrupt(where, `Invalid directory metadata mode ${m.mode}; not a directory`);
      checkModeBits(m.mode, where);
      return;
    }
    case 'dirtree':
      decodeDirTree(bytes, where);
      return;
    case 'commit': {
      const c = decodeCommit(bytes, where);
      if (c.metadata.some(([k]) => k === '')) throw corrupt(where, 'Empty metadata key');
      return;
    }
    case 'commitmeta':
      decodeAt(COMMITMETA_TYPE, bytes, where);
      return;
    case 'file':
      throw new Error('validateMetadata: content objects are validated by their header');
  }
}
