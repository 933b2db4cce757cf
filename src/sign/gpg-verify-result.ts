import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { runTool, type GpgKeySet } from './gpg.js';

/**
 * What ostree's gpgme verifier learns of each GPG signature, and its account of them
 * (ostree_gpg_verify_result_describe): `Signature made … using ALGO key ID …`, then
 * `Good signature from "NAME <EMAIL>"` (or why not), `Primary key ID …` for a subkey, and the
 * expiry lines. grove reads the same facts from gpgv's status lines and gpg's key listing.
 */
export interface GpgSignatureInfo {
  valid: boolean;
  sigExpired: boolean;
  keyExpired: boolean;
  keyRevoked: boolean;
  keyMissing: boolean;
  /** The signing key's fingerprint (or key ID when gpg knows no more). */
  fingerprint: string;
  /** The primary key's fingerprint; '' when the key is missing. */
  fingerprintPrimary: string;
  timestamp: number;
  expTimestamp: number;
  pubkeyAlgo: string;
  userName: string;
  userEmail: string;
  keyExpTimestamp: number;
  keyExpTimestampPrimary: number;
}

/** gpgme_pubkey_algo_name. */
function algoName(id: number): string {
  const names: Record<number, string> = { 1: 'RSA', 2: 'RSA', 3: 'RSA', 16: 'ELG', 17: 'DSA', 18: 'ECDH', 19: 'ECDSA', 20: 'ELG', 22: 'EdDSA' };
  return names[id] ?? '[unknown name]';
}

/** A user ID split as gpgme splits it: the name before any `(comment)` or `<email>`, the email inside `<>`. */
function splitUserId(uid: string): { name: string; email: string } {
  const lt = uid.indexOf('<');
  const gt = lt < 0 ? -1 : uid.indexOf('>', lt);
  const email = lt >= 0 && gt > lt ? uid.slice(lt + 1, gt) : '';
  const cut = Math.min(...[uid.indexOf('('), lt].filter((i) => i >= 0), uid.length);
  return { name: uid.slice(0, cut).trim(), email };
}

interface KeyListing { primaryFpr: string; primaryExpires: number; uid: string | null; subkeys: Map<string, number> }

/** gpg's `--with-colons` listing of one key: its fingerprints, expiries and first user ID. */
function parseListing(text: string): KeyListing | null {
  let key: KeyListing | null = null;
  let last: 'pub' | 'sub' | null = null;
  let lastExpires = 0;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub' || f[0] === 'sub') {
      if (f[0] === 'pub' && key) break;
      last = f[0];
      lastExpires = Number(f[6] || 0);
      if (f[0] === 'pub') key = { primaryFpr: '', primaryExpires: lastExpires, uid: null, subkeys: new Map() };
    } else if (f[0] === 'fpr' && key && last) {
      const fpr = f[9] ?? '';
      if (last === 'pub') key.primaryFpr = fpr;
      key.subkeys.set(fpr, lastExpires);
      last = null;
    } else if (f[0] === 'uid' && key && key.uid === null) {
      key.uid = (f[9] ?? '').replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    }
  }
  return key;
}

/**
 * Every signature in `signatures` over `data`, checked against `keys` as ostree's verifier
 * checks them (one keyring, no trust model: a good signature by any key in it is valid).
 */
export async function gpgVerifyResult(data: Uint8Array, signatures: Uint8Array[], keys: GpgKeySet): Promise<GpgSignatureInfo[]> {
  if (signatures.length === 0) return [];
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'grove-gpgv-'));
  try {
    const keyring = path.join(dir, 'pubring.gpg');
    await fs.writeFile(keyring, Buffer.concat(keys.rings.map((r) => Buffer.from(r))), { mode: 0o600 });
    for (const f of keys.files) await runTool('gpg', ['--batch', '--no-tty', '--homedir', dir, '--import', path.resolve(f)]);
    await fs.writeFile(path.join(dir, 'data'), data);
    // gpgme hands gpg all the signatures as one stream; gpgv reports each after a NEWSIG.
    await fs.writeFile(path.join(dir, 'sigs'), Buffer.concat(signatures.map((s) => Buffer.from(s))));
    const r = await runTool('gpgv', ['--status-fd', '1', '--homedir', dir, '--keyring', keyring, path.join(dir, 'sigs'), path.join(dir, 'data')]);
    const out: GpgSignatureInfo[] = [];
    let cur: GpgSignatureInfo | null = null;
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const f = line.split(' ');
      if (f[0] !== '[GNUPG:]') continue;
      const [tag, ...a] = f.slice(1) as [string, ...string[]];
      if (tag === 'NEWSIG') {
        cur = {
          valid: false, sigExpired: false, keyExpired: false, keyRevoked: false, keyMissing: false, fingerprint: '', fingerprintPrimary: '',
          timestamp: 0, expTimestamp: 0, pubkeyAlgo: '[unknown name]', userName: '[unknown name]', userEmail: '[unknown email]', keyExpTimestamp: 0, keyExpTimestampPrimary: 0,
        };
        out.push(cur);
      } else if (!cur) continue;
      else if (tag === 'GOODSIG') cur.valid = true;
      else if (tag === 'EXPSIG') cur.sigExpired = true;
      else if (tag === 'EXPKEYSIG') cur.keyExpired = true;
      else if (tag === 'REVKEYSIG') cur.keyRevoked = true;
      else if (tag === 'BADSIG') cur.fingerprint = a[0] ?? '';
      else if (tag === 'VALIDSIG') {
        cur.fingerprint = a[0] ?? '';
        cur.timestamp = Number(a[2] ?? 0);
        cur.expTimestamp = Number(a[3] ?? 0);
        cur.pubkeyAlgo = algoName(Number(a[6]));
        cur.fingerprintPrimary = a[9] ?? '';
      } else if (tag === 'ERRSIG') {
        cur.fingerprint = a[6] && a[6] !== '-' ? a[6] : a[0] ?? '';
        cur.pubkeyAlgo = algoName(Number(a[1]));
        cur.timestamp = Number(a[4] ?? 0);
        cur.keyMissing = a[5] === '9';
      }
    }
    for (const s of out) {
      if (s.keyMissing || s.fingerprint === '') continue;
      const l = await runTool('gpg', ['--batch', '--no-tty', '--homedir', dir, '--with-colons', '--fixed-list-mode', '--list-keys', s.fingerprint]);
      const key = l.code === 0 ? parseListing(l.stdout.toString('utf8')) : null;
      if (!key) continue;
      if (key.uid !== null) ({ name: s.userName, email: s.userEmail } = splitUserId(key.uid));
      s.fingerprintPrimary = key.primaryFpr;
      s.keyExpTimestamp = key.subkeys.get(s.fingerprint) ?? 0;
      s.keyExpTimestampPrimary = key.primaryExpires;
    }
    return out;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** GLib's `%c` in the C locale, in local time: `Wed Dec 2 02:20:34 2026`, a one-digit day padded with U+2007 (figure space) as GLib pads `%e`. */
function formatC(unix: number): string {
  const d = new Date(unix * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, '\u2007')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

const keyId = (fpr: string): string => (fpr.length > 16 ? fpr.slice(-16) : fpr);

/** ostree_gpg_verify_result_describe_variant's lines for one signature, each after `prefix`. */
export function describeSignature(s: GpgSignatureInfo, prefix: string): string {
  const lines = [`Signature made ${formatC(s.timestamp)} using ${s.pubkeyAlgo} key ID ${keyId(s.fingerprint)}`];
  const who = `"${s.userName} <${s.userEmail}>"`;
  if (s.keyMissing) lines.push("Can't check signature: public key not found");
  else if (s.valid) lines.push(`Good signature from ${who}`);
  else if (s.keyRevoked) lines.push('Key revoked');
  else if (s.sigExpired) lines.push(`Expired signature from ${who}`);
  else lines.push(`BAD signature from ${who}`);
  const sub = s.fingerprint !== s.fingerprintPrimary;
  if (!s.keyMissing && sub) lines.push(`Primary key ID ${keyId(s.fingerprintPrimary)}`);
  const expiry = (what: string, ts: number, expired: boolean) => `${what} ${expired ? 'expired' : 'expires'} ${formatC(ts)}`;
  if (s.expTimestamp > 0) lines.push(expiry('Signature', s.expTimestamp, s.sigExpired));
  if (s.keyExpTimestamp > 0) lines.push(expiry('Key', s.keyExpTimestamp, s.keyExpired));
  if (s.keyExpTimestampPrimary > 0 && sub) lines.push(expiry('Primary key', s.keyExpTimestampPrimary, s.keyExpired));
  return lines.map((l) => `${prefix}${l}\n`).join('');
}

/** What ostree prints of a verification (ostree_print_gpg_verify_result). */
export function formatVerifyResult(sigs: GpgSignatureInfo[]): string {
  return `GPG: Verification enabled, found ${sigs.length} signature${sigs.length === 1 ? '' : 's'}:\n${sigs.map((s) => `\n${describeSignature(s, '  ')}`).join('')}`;
}

/**
 * ostree_gpg_verify_result_require_valid_signature: nothing when one signature is valid, else
 * an error describing every signature, the last first, or `No GPG signatures found`.
 */
export function requireValidGpg(sigs: GpgSignatureInfo[]): void {
  if (sigs.some((s) => s.valid)) return;
  const text = sigs.length === 0 ? 'No GPG signatures found' : [...sigs].reverse().map((s) => describeSignature(s, '')).join('').trimEnd();
  throw new GroveError('GROVE_BAD_SIGNATURE', text);
}
