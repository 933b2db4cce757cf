import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';

/**
 * ed25519 signatures as upstream ostree (2020.4+, built with libsodium) writes them: plain
 * Ed25519 over the exact bytes of the commit object (or summary), stored under
 * `ostree.sign.ed25519` as an array of 64-byte signatures (`aay`). Keys travel in base64: a
 * secret key is libsodium's 64 bytes (seed, then public key), a public key its 32 bytes. Files
 * of keys hold one base64 key per line.
 */
export const ED25519_KEY = 'ostree.sign.ed25519';
export const ED25519_TYPE = 'aay';

// DER prefixes that wrap a raw 32-byte seed (PKCS#8) or public key (SPKI) for node:crypto.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function decodeBase64Key(text: string, bytes: number, what: string): Buffer {
  const t = text.trim();
  const b = Buffer.from(t, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t) || b.length !== bytes) {
    throw new GroveError('GROVE_BAD_KEY', `${what} is not a base64 ed25519 key of ${bytes} bytes`);
  }
  return b;
}

export function parseSecretKey(text: string, what = 'ed25519 secret key'): crypto.KeyObject {
  const sk = decodeBase64Key(text, 64, what);
  const key = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, sk.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  // libsodium's secret key repeats the public key: a mismatch means a damaged key file.
  if (!rawPublicKey(crypto.createPublicKey(key)).equals(sk.subarray(32))) throw new GroveError('GROVE_BAD_KEY', `${what}: its two halves do not belong together`);
  return key;
}

export function parsePublicKey(text: string, what = 'ed25519 public key'): Buffer {
  return decodeBase64Key(text, 32, what);
}

function rawPublicKey(k: crypto.KeyObject): Buffer {
  return k.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** A new key pair in ostree's base64 forms (for tests and `grove sign --generate`). */
export function generateKeyPair(): { secret: string; public: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = rawPublicKey(publicKey);
  return { secret: Buffer.concat([seed, pub]).toString('base64'), public: pub.toString('base64') };
}

export function signEd25519(data: Uint8Array, secret: crypto.KeyObject): Uint8Array {
  return crypto.sign(null, data, secret);
}

/**
 * The first trusted, unrevoked key that made one of `signatures` over `data`, as base64; null
 * when none did. A signature of the wrong length is an error, in ostree's words.
 */
export function verifyEd25519(data: Uint8Array, signatures: Uint8Array[], trusted: Buffer[], revoked: Buffer[] = []): string | null {
  for (const sig of signatures) {
    if (sig.length !== 64) throw new GroveError('GROVE_BAD_SIGNATURE', `Invalid signature length of ${sig.length} bytes, expected 64`);
    for (const pub of trusted) {
      if (revoked.some((r) => r.equals(pub))) continue;
      const key = crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
      if (crypto.verify(null, data, key, sig)) return pub.toString('base64');
    }
  }
  return null;
}

/** Keys from a file of base64 keys, one per line (blank lines and # comments skipped). */
export function readKeyLines(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `key file ${file} does not exist`, { path: file });
    throw e;
  }
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The public keys ostree trusts when a remote names none: `trusted.ed25519` files and `.d`
 * directories under /etc/ostree and /usr/share/ostree (and the same for `revoked.ed25519`).
 */
export function systemKeys(kind: 'trusted' | 'revoked', roots = ['/etc/ostree', '/usr/share/ostree']): Buffer[] {
  const out: Buffer[] = [];
  for (const root of roots) {
    const files = [path.join(root, `${kind}.ed25519`)];
    const dir = path.join(root, `${kind}.ed25519.d`);
    try {
      for (const n of fs.readdirSync(dir).sort()) files.push(path.join(dir, n));
    } catch { /* no such directory */ }
    for (const f of files) {
      if (!fs.existsSync(f)) continue;
      for (const line of readKeyLines(f)) out.push(parsePublicKey(line, `key in ${f}`));
    }
  }
  return out;
}
