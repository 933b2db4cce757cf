import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GroveError } from '../errors.js';

/**
 * GPG signatures as ostree stores them: binary OpenPGP detached signatures over the exact bytes
 * of the commit object (or summary), under `ostree.gpgsigs` (`aay`). Node has no OpenPGP, so the
 * system's GnuPG does the work: `gpg --detach-sign` to sign, `gpgv` against explicit keyrings to
 * verify (gpgv trusts exactly the keys in the keyrings it is given, nothing from any homedir).
 */
export const GPG_KEY = 'ostree.gpgsigs';
export const GPG_TYPE = 'aay';

export interface Ran { code: number; stdout: Buffer; stderr: string }

/** Runs a GnuPG tool with `input` on its stdin; its status, stdout and stderr. */
export function runTool(cmd: string, args: string[], input?: Uint8Array): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', (e) => reject(new GroveError('GROVE_NO_GPG', `cannot run ${cmd}: ${e.message}`, { hint: 'install GnuPG (apt-get install gnupg)' })));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => { /* the tool may exit before reading everything; its status tells */ });
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** A binary detached signature of `data` by `keyId`, from the keyring in `homedir` (default: gpg's own). */
export async function gpgSign(data: Uint8Array, keyId: string, homedir?: string): Promise<Uint8Array> {
  const args = ['--batch', '--no-tty'];
  if (homedir !== undefined) args.push('--homedir', homedir);
  args.push('--local-user', keyId, '--detach-sign', '--output', '-');
  const r = await runTool('gpg', args, data);
  if (r.code !== 0 || r.stdout.length === 0) {
    const why = r.stderr.trim().split('\n').pop() ?? '';
    throw new GroveError('GROVE_GPG', `gpg could not sign with key ${keyId}${homedir ? ` (homedir ${homedir})` : ''}: ${why}`);
  }
  return r.stdout;
}

/** The keys a verification trusts: binary keyrings, and key files gpg imports (armored or binary). */
export interface GpgKeySet { rings: Uint8Array[]; files: string[] }

/**
 * Checks each signature against the keys of `keys`. Returns the fingerprint-ish line gpgv
 * reports for the first good signature, or null when none is good. The keyrings are
 * concatenated and the key files imported into one keyring first, as ostree's verifier does
 * (gpgv itself reads no armored keys).
 */
export async function gpgVerify(data: Uint8Array, signatures: Uint8Array[], keys: GpgKeySet): Promise<string | null> {
  if (signatures.length === 0 || (keys.rings.length === 0 && keys.files.length === 0)) return null;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'grove-gpgv-'));
  try {
    const keyring = path.join(dir, 'pubring.gpg');
    await fs.writeFile(keyring, Buffer.concat(keys.rings.map((r) => Buffer.from(r))), { mode: 0o600 });
    // With pubring.gpg present gpg keeps to it (no keybox), so the imports land where gpgv reads.
    for (const f of keys.files) await runTool('gpg', ['--batch', '--no-tty', '--homedir', dir, '--import', path.resolve(f)]);
    const dataFile = path.join(dir, 'data');
    await fs.writeFile(dataFile, data);
    for (const [i, sig] of signatures.entries()) {
      const sigFile = path.join(dir, `sig${i}`);
      await fs.writeFile(sigFile, sig);
      const r = await runTool('gpgv', ['--homedir', dir, '--keyring', keyring, sigFile, dataFile]);
      if (r.code === 0) return /Good signature from .*/.exec(r.stderr)?.[0] ?? 'good signature';
    }
    return null;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
