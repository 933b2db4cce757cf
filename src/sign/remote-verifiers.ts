import { GroveError } from '../errors.js';
import type { KeyFile } from '../format/keyfile.js';
import { readKeyLines } from './ed25519.js';
import { signEngine, type SignEngine } from './engines.js';
import { signaturesOf, type Dict } from './signatures.js';

/**
 * The sign-API verifiers a remote's configuration asks for, and the check of a signed object
 * against them, as ostree 2022.7's `_signapi_init_for_remote` and `_sign_verify_for_remote`
 * do it for `admin status --verify`:
 * - `sign-verify` empty, absent, `false` or `0`: none;
 * - `true` or `1`: every engine, each with the keys the remote gives it, if any;
 * - otherwise a list of engine names (`;` as GLib lists go; `,` too, which is how ostree's own
 *   `remote add --sign-verify` writes two of them), each of which must have keys.
 * An engine's keys are the remote's `verification-NAME-file` (one base64 key a line; ostree's
 * dummy engine cannot read files) and `verification-NAME-key`.
 */
export interface Verifier { engine: SignEngine; keys: string[] }

const ALL_ENGINES = ['ed25519', 'dummy'] as const;

export function remoteVerifiers(config: KeyFile, remote: string, option = 'sign-verify'): Verifier[] | null {
  const group = `remote "${remote}"`;
  const raw = config.get(group, option);
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return null;
  if (raw === 'true' || raw === '1') return ALL_ENGINES.map((name) => withKeys(config, group, signEngine(name), false));
  return raw.split(/[;,]/).map((s) => s.trim()).filter((s) => s !== '').map((name) => withKeys(config, group, signEngine(name), true));
}

function withKeys(config: KeyFile, group: string, engine: SignEngine, required: boolean): Verifier {
  const file = config.get(group, `verification-${engine.name}-file`);
  const inline = config.get(group, `verification-${engine.name}-key`);
  if (file === undefined && inline === undefined) {
    if (required) throw new GroveError('GROVE_NO_KEYS', `No keys found for required signapi type ${engine.name}`);
    return { engine, keys: [] };
  }
  const keys: string[] = [];
  if (file !== undefined) {
    // ostree's message, its unclosed quote included.
    const failed = new GroveError('GROVE_BAD_KEY', `Failed loading '${engine.name}' keys from '${file}`, { path: file });
    if (engine.name === 'dummy') throw failed;
    try {
      for (const k of readKeyLines(file)) {
        engine.checkPublicKey(k);
        keys.push(k);
      }
    } catch (e) {
      if (e instanceof GroveError) throw failed;
      throw e;
    }
  }
  if (inline !== undefined) {
    try {
      engine.checkPublicKey(inline);
    } catch (e) {
      if (e instanceof GroveError) throw new GroveError('GROVE_BAD_KEY', `Failed loading '${engine.name}' keys from inline \`verification-key\``);
      throw e;
    }
    keys.push(inline);
  }
  return { engine, keys };
}

/**
 * The success message of the first verifier with signatures in `detached` that one of them
 * verifies; else ostree's error: "No signatures found", or the first failure (prefixed with how
 * many other engines failed).
 */
export function verifyWith(verifiers: Verifier[], data: Uint8Array, detached: Dict | null): string {
  let found = false;
  let failures = 0;
  let first: GroveError | null = null;
  for (const { engine, keys } of verifiers) {
    if (!detached?.some(([k, v]) => k === engine.metadataKey && v.type === 'aay')) continue;
    found = true;
    try {
      return engine.verify(data, signaturesOf(detached, engine.metadataKey), keys);
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      failures++;
      first ??= e;
    }
  }
  if (!found) throw new GroveError('GROVE_BAD_SIGNATURE', 'No signatures found');
  throw failures > 1 ? new GroveError(first!.code, `(${failures - 1} other invalid signatures): ${first!.message}`) : first!;
}
