import { GroveError } from '../errors.js';

/** A SHA-256 checksum as ostree writes it: 64 lowercase hex digits. */
export const CHECKSUM_RE = /^[0-9a-f]{64}$/;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

/** Bytes of a hex string; the caller has validated it (see {@link validateChecksum}). */
export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * What is wrong with `text` as a checksum, in ostree's words
 * (`ostree_validate_structureof_checksum_string`), or null when it is one. ostree quotes at most
 * 64 characters of a wrong-length one, newlines as spaces (an HTML page in a ref file must not
 * flood the error).
 */
export function checksumStringProblem(text: string): string | null {
  if (text.length !== 64) return `Invalid rev ${text.slice(0, 64).replace(/\n/g, ' ')}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return `Invalid character '${c}' in rev '${text}'`;
  }
  return null;
}

/** True for a well-formed checksum string. */
export function isChecksum(s: string): boolean {
  return CHECKSUM_RE.test(s);
}

/**
 * Returns `s` when it is 64 lowercase hex digits, else throws GROVE_BAD_CHECKSUM naming `what`
 * (the option or object the string came from).
 */
export function validateChecksum(s: string, what = 'checksum'): string {
  if (!CHECKSUM_RE.test(s)) {
    throw new GroveError('GROVE_BAD_CHECKSUM', `invalid ${what} '${s}': expected 64 lowercase hex digits`);
  }
  return s;
}

/**
 * A 32-byte checksum embedded in a metadata object, as hex. Untrusted bytes: a wrong length is
 * corruption, not a programmer error.
 */
export function checksumFromBytes(bytes: Uint8Array, where: string): string {
  if (bytes.length !== 32) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: checksum field has ${bytes.length} bytes, expected 32`);
  }
  return toHex(bytes);
}
