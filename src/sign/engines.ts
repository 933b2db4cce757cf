import { GroveError } from '../errors.js';
import { ED25519_KEY, parsePublicKey, parseSecretKey, signEd25519, systemKeys, verifyEd25519 } from './ed25519.js';

/**
 * ostree's signing engines (`--sign-type`), as its OstreeSign interface has them: each signs
 * bytes with a secret key given as text and checks signatures against public keys given as text,
 * storing its signatures (`aay`) under its own metadata key. Messages are ostree 2022.7's, from
 * ostree-sign-ed25519.c and ostree-sign-dummy.c.
 *
 * - `ed25519`: the real one (ostree needs libsodium for it; Debian's ostree 2022.7 has none).
 * - `dummy`: ostree's test engine, whose "signature" is the secret key's text and which checks a
 *   signature by comparing it with the public key's text. Like ostree, it works only with
 *   OSTREE_DUMMY_SIGN_ENABLED=1: it lets ostree's own test scripts, and grove's tests against
 *   Debian's ostree, exercise signed data without a real key.
 */
export interface SignEngine {
  readonly name: 'ed25519' | 'dummy';
  /** Where its signatures go in an `a{sv}` (`ostree.sign.NAME`). */
  readonly metadataKey: string;
  sign(data: Uint8Array, secret: string): Uint8Array;
  /**
   * ostree's success message when one of `signatures` is by one of `publicKeys` (null: the
   * engine's default keys, which for ed25519 are the system's trusted.ed25519 files); else throws
   * ostree's error.
   */
  verify(data: Uint8Array, signatures: Uint8Array[], publicKeys: string[] | null): string;
  /** Throws ostree's words unless `text` is a public key of this engine (as ostree's add_pk checks it). */
  checkPublicKey(text: string): void;
  /**
   * Why the engine has no default keys to verify with, in ostree's words (its load_pk fails),
   * or null when it has some.
   */
  defaultKeysMissing(): string | null;
}

/** The engine of `--sign-type=NAME`, refused in ostree's words when there is none of that name. */
export function signEngine(name: string): SignEngine {
  if (name === 'ed25519') return ED25519;
  if (name === 'dummy') return DUMMY;
  throw new GroveError('GROVE_BAD_OPTION', 'Requested signature type is not implemented');
}

const fail = (message: string) => new GroveError('GROVE_BAD_SIGNATURE', message);

const NO_ED25519_KEYS = 'signature: ed25519: no keys loaded';
// ostree's dummy engine has no load_pk at all.
const NO_DUMMY_DEFAULT_KEYS = 'not implemented';

const ED25519: SignEngine = {
  name: 'ed25519',
  metadataKey: ED25519_KEY,
  sign: (data, secret) => signEd25519(data, inOstreeWords(() => parseSecretKey(secret), 'Incorrect ed25519 secret key')),
  verify(data, signatures, publicKeys) {
    const trusted = publicKeys === null ? systemKeys('trusted') : publicKeys.map((k) => inOstreeWords(() => parsePublicKey(k), 'Incorrect ed25519 public key'));
    if (trusted.length === 0) throw fail(NO_ED25519_KEYS);
    // Revoked keys come with the default keys only, as ostree loads them.
    const revoked = publicKeys === null ? systemKeys('revoked') : [];
    const good = verifyEd25519(data, signatures, trusted, revoked);
    if (good !== null) return `ed25519: Signature verified successfully with key '${Buffer.from(good, 'base64').toString('hex')}'`;
    // ostree names a key for each signature it failed to verify with it.
    const live = trusted.filter((k) => !revoked.some((r) => r.equals(k)));
    const tried = signatures.flatMap(() => live);
    // ostree caps the list at three keys (its test suite has a ring of a hundred).
    if (tried.length > 3) throw fail(`ed25519: Signature couldn't be verified; tried ${tried.length} keys`);
    if (tried.length > 0) throw fail(`ed25519: Signature couldn't be verified with: ${tried.map((k) => `key '${k.toString('hex')}'`).join('; ')}`);
    throw fail('ed25519: no signatures found');
  },
  checkPublicKey(text) {
    inOstreeWords(() => parsePublicKey(text), 'Incorrect ed25519 public key');
  },
  defaultKeysMissing: () => (systemKeys('trusted').length > 0 ? null : NO_ED25519_KEYS),
};

function inOstreeWords<T>(parse: () => T, message: string): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof GroveError && e.code === 'GROVE_BAD_KEY') throw new GroveError('GROVE_BAD_KEY', message, { cause: e });
    throw e;
  }
}

function dummyEnabled(): void {
  if (process.env['OSTREE_DUMMY_SIGN_ENABLED'] !== '1') throw new GroveError('GROVE_BAD_OPTION', 'dummy signature type is only for ostree testing');
}

const DUMMY: SignEngine = {
  name: 'dummy',
  metadataKey: 'ostree.sign.dummy',
  sign(_data, secret) {
    dummyEnabled();
    return Buffer.from(secret, 'utf8');
  },
  verify(_data, signatures, publicKeys) {
    dummyEnabled();
    // The dummy engine keeps one public key: the last one given (none given: no signature
    // matches, as ostree compares with its NULL key). It has no default keys to load.
    if (publicKeys === null) throw fail(NO_DUMMY_DEFAULT_KEYS);
    const pk = publicKeys.at(-1);
    // ostree compares C strings: the signature up to its first NUL.
    if (pk !== undefined && signatures.some((s) => Buffer.from(s).toString('latin1').split('\0')[0] === Buffer.from(pk, 'utf8').toString('latin1'))) return 'dummy: Signature verified';
    throw fail(signatures.length > 0 ? `signature: dummy: incorrect signatures found: ${signatures.length}` : 'signature: dummy: no signatures');
  },
  checkPublicKey() {
    // Any text is a dummy key.
  },
  defaultKeysMissing: () => NO_DUMMY_DEFAULT_KEYS,
};
