import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { runTool } from './gpg.js';

/**
 * Public-key work for remotes, done by the system's GnuPG in throw-away home directories the way
 * ostree has GPGME do it: importing keys into a remote's `REMOTE.trustedkeys.gpg` (a plain
 * OpenPGP keyring, kept as gpg's `pubring.gpg`), and listing the keys of a set of keyrings.
 * Failures carry ostree's words, GPGME's error names included, since scripts match them.
 */

/** A fresh GnuPG home for one operation; removed by `done`. */
async function scratchHome(): Promise<{ home: string; gpg: (args: string[], input?: Uint8Array) => ReturnType<typeof runTool>; done: () => Promise<void> }> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'grove-gpg-'));
  return {
    home,
    gpg: (args, input) => runTool('gpg', ['--batch', '--no-tty', '--homedir', home, ...args], input),
    done: async () => {
      // gpg may have started an agent for this home; it exits once the home is gone (GnuPG >= 2.1.17).
      await fs.rm(home, { recursive: true, force: true });
    },
  };
}

/** A key as `gpg --with-colons` lists it, in the fields ostree's listing and look-ups use. */
export interface GpgKey {
  /** The primary key first, then the subkeys, in the keyring's order. */
  subkeys: Array<{ fingerprint: string; created: number; expires: number; revoked: boolean; expired: boolean; invalid: boolean }>;
  uids: Array<{ uid: string; revoked: boolean; invalid: boolean; address: string | null }>;
}

/** gpg's colon listings escape `:`, `\` and control characters as `\xNN`. */
function unescapeColons(s: string): string {
  return Buffer.from(s.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

/**
 * The mailbox of a user ID as GPGME gives it (`uid->address`): what `<…>` holds, else the whole
 * ID when it is a bare address; lowercased. Null when there is none.
 */
export function mailboxOf(uid: string): string | null {
  const m = /<([^<>]*)>/.exec(uid);
  const candidate = m ? m[1]! : uid;
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(candidate)) return null;
  return candidate.toLowerCase();
}

/** Parses `gpg --with-colons --fixed-list-mode --list-keys` output. */
export function parseColonKeys(text: string): GpgKey[] {
  const keys: GpgKey[] = [];
  let pendingFpr: GpgKey['subkeys'][number] | null = null;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const validity = f[1] ?? '';
    if (f[0] === 'pub' || f[0] === 'sub') {
      if (f[0] === 'pub') keys.push({ subkeys: [], uids: [] });
      const key = keys.at(-1);
      if (!key) continue;
      pendingFpr = { fingerprint: '', created: Number(f[5] ?? 0), expires: Number(f[6] || 0), revoked: validity === 'r', expired: validity === 'e', invalid: validity === 'i' };
      key.subkeys.push(pendingFpr);
    } else if (f[0] === 'fpr' && pendingFpr !== null && pendingFpr.fingerprint === '') {
      pendingFpr.fingerprint = f[9] ?? '';
    } else if (f[0] === 'uid') {
      const uid = unescapeColons(f[9] ?? '');
      keys.at(-1)?.uids.push({ uid, revoked: validity === 'r', invalid: validity === 'i', address: mailboxOf(uid) });
    }
  }
  return keys;
}

/**
 * The primary fingerprints a key ID names in `home`, as GPGME's `gpgme_get_key` finds it: IDs
 * under 8 characters are refused ("Invalid value"), none found is "End of file", more than one
 * "Ambiguous name". Returns the fingerprint, or the GPGME error name.
 */
async function findKey(gpg: (args: string[]) => ReturnType<typeof runTool>, keyId: string): Promise<{ fpr: string } | { error: string }> {
  if (keyId.length < 8) return { error: 'Invalid value' };
  const r = await gpg(['--with-colons', '--fixed-list-mode', '--list-keys', '--', keyId]);
  const found = r.code === 0 ? parseColonKeys(r.stdout.toString('utf8')) : [];
  if (found.length === 0) return { error: 'End of file' };
  if (found.length > 1) return { error: 'Ambiguous name' };
  return { fpr: found[0]!.subkeys[0]!.fingerprint };
}

/**
 * `ostree remote gpg-import`: the keys of `source` (armored or binary; only those `keyIds` name,
 * when given) added to `ring` (the remote's keyring, or null when it has none yet). Returns the
 * new keyring and how many keys were new to it, as GPGME's import result counts them.
 */
export async function importKeys(source: Uint8Array, keyIds: readonly string[] | null, ring: Uint8Array | null): Promise<{ ring: Buffer; imported: number }> {
  const src = await scratchHome();
  const dst = await scratchHome();
  try {
    // Data that holds no key imports nothing; that shows below, as "No data".
    if (source.length > 0) await src.gpg(['--import'], source);
    let fprs: string[];
    if (keyIds !== null) {
      fprs = [];
      for (const id of keyIds) {
        const k = await findKey(src.gpg, id);
        if ('error' in k) throw new GroveError('GROVE_GPG', `GPG: Unable to find key "${id}": GPGME: ${k.error}`);
        fprs.push(k.fpr);
      }
    } else {
      const r = await src.gpg(['--with-colons', '--fixed-list-mode', '--list-keys']);
      fprs = r.code === 0 ? parseColonKeys(r.stdout.toString('utf8')).map((k) => k.subkeys[0]!.fingerprint) : [];
    }
    const exported = fprs.length === 0 ? Buffer.alloc(0) : (await src.gpg(['--export', ...fprs])).stdout;
    if (exported.length === 0) throw new GroveError('GROVE_GPG', 'GPG: Unable to export keys: GPGME: No data');
    // An existing pubring.gpg keeps gpg on the plain keyring format (no pubring.kbx), as ostree arranges.
    const pubring = path.join(dst.home, 'pubring.gpg');
    await fs.writeFile(pubring, ring ?? Buffer.alloc(0), { mode: 0o644 });
    const r = await dst.gpg(['--status-fd', '1', '--import'], exported);
    const status = r.stdout.toString('utf8');
    const problem = /^\[GNUPG:\] IMPORT_PROBLEM \d+ ?([0-9A-F]*)/m.exec(status);
    if (problem) throw new GroveError('GROVE_GPG', `GPG: Unable to import key "${problem[1] ?? ''}"`);
    const res = /^\[GNUPG:\] IMPORT_RES (\d+) (\d+) (\d+)/m.exec(status);
    if (!res) throw new GroveError('GROVE_GPG', `GPG: Unable to import keys: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    return { ring: await fs.readFile(pubring), imported: Number(res[3]) };
  } finally {
    await src.done();
    await dst.done();
  }
}

/**
 * The keys of `keyrings` (binary keyring files, concatenated as ostree's verifier does) and
 * `armoredFiles` (imported after them), in the order gpg lists them.
 */
export async function listKeys(keyrings: readonly Uint8Array[], armoredFiles: readonly string[] = []): Promise<GpgKey[]> {
  const h = await scratchHome();
  try {
    await fs.writeFile(path.join(h.home, 'pubring.gpg'), Buffer.concat(keyrings.map((k) => Buffer.from(k))), { mode: 0o644 });
    for (const f of armoredFiles) await h.gpg(['--import', path.resolve(f)]);
    const r = await h.gpg(['--with-colons', '--fixed-list-mode', '--list-keys']);
    return r.code === 0 ? parseColonKeys(r.stdout.toString('utf8')) : [];
  } finally {
    await h.done();
  }
}

/**
 * For each signature (binary, over `data`), the primary fingerprint of the key that made it,
 * when that key is among `keyrings`; null when it is not (GPGME then knows no key for it). The
 * primary fingerprints `keyIds` name there come back too (null where GPGME would not find one).
 */
export async function signatureKeys(data: Uint8Array, signatures: readonly Uint8Array[], keyrings: readonly Uint8Array[], keyIds: readonly string[]): Promise<{ signers: Array<string | null>; named: Array<string | null> }> {
  const h = await scratchHome();
  try {
    await fs.writeFile(path.join(h.home, 'pubring.gpg'), Buffer.concat(keyrings.map((k) => Buffer.from(k))), { mode: 0o644 });
    const dataFile = path.join(h.home, 'signed-data');
    await fs.writeFile(dataFile, data);
    const signers: Array<string | null> = [];
    for (const [i, sig] of signatures.entries()) {
      const sigFile = path.join(h.home, `sig${i}`);
      await fs.writeFile(sigFile, sig);
      const status = (await h.gpg(['--status-fd', '1', '--verify', sigFile, dataFile])).stdout.toString('utf8');
      // VALIDSIG ends with the primary key's fingerprint; a bad or expired signature by a known key names its key ID.
      const valid = /^\[GNUPG:\] VALIDSIG (?:\S+ ){9}([0-9A-F]{40})/m.exec(status);
      const known = /^\[GNUPG:\] (?:BADSIG|EXPSIG|EXPKEYSIG|REVKEYSIG) ([0-9A-F]+)/m.exec(status);
      if (valid) signers.push(valid[1]!);
      else if (known) {
        const k = await findKey(h.gpg, known[1]!);
        signers.push('fpr' in k ? k.fpr : null);
      } else signers.push(null);
    }
    const named: Array<string | null> = [];
    for (const id of keyIds) {
      const k = await findKey(h.gpg, id);
      named.push('fpr' in k ? k.fpr : null);
    }
    return { signers, named };
  } finally {
    await h.done();
  }
}
