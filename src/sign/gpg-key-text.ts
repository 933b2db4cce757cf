import { createHash } from 'node:crypto';
import type { GpgKey } from './gpg-keys.js';

/**
 * Keys printed as `ostree remote gpg-list-keys` prints them: the primary key, its user IDs each
 * with the OpenPGP Web Key Directory URLs of its address, then the subkeys. Times are local, in
 * the C locale's `%c` form (`Tue Dec  1 22:33:51 2026`).
 */
export function formatGpgKeys(keys: readonly GpgKey[]): string {
  let out = '';
  for (const k of keys) {
    const [primary, ...subkeys] = k.subkeys;
    if (primary === undefined) continue;
    out += subkeyText(primary, true);
    for (const u of k.uids) {
      out += `  UID: ${u.uid}${u.revoked ? ' (revoked)' : ''}${u.invalid ? ' (invalid)' : ''}\n`;
      const urls = u.address === null ? null : wkdUrls(u.address);
      out += `  Advanced update URL: ${urls?.advanced ?? ''}\n`;
      out += `  Direct update URL: ${urls?.direct ?? ''}\n`;
    }
    for (const s of subkeys) out += subkeyText(s, false);
  }
  return out;
}

function subkeyText(s: GpgKey['subkeys'][number], primary: boolean): string {
  const indent = primary ? '  ' : '    ';
  let out = `${primary ? 'Key' : '  Subkey'}: ${s.fingerprint}${s.revoked ? ' (revoked)' : ''}${s.invalid ? ' (invalid)' : ''}\n`;
  out += `${indent}Created: ${localeTime(s.created)}\n`;
  if (s.expires > 0) out += `${indent}${s.expired ? 'Expired' : 'Expires'}: ${localeTime(s.expires)}\n`;
  return out;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `%a %b %e %H:%M:%S %Y` in local time: what GLib's `%c` gives in the C locale (GLib pads `%e` with U+2007 FIGURE SPACE). */
export function localeTime(secs: number): string {
  const d = new Date(secs * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, '\u2007')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (RFC 6189's alphabet, most significant bits first), as WKD names the hashed local part. */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** g_uri_escape_string(s, NULL, FALSE): everything but RFC 3986's unreserved characters is %-escaped (upper-case hex). */
function uriEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The Web Key Directory URLs of an address (draft-koch-openpgp-webkey-service), as ostree
 * builds them; null when the address does not split into exactly local@domain.
 */
export function wkdUrls(address: string): { advanced: string; direct: string } | null {
  const parts = address.split('@');
  if (parts.length !== 2) return null;
  const [local, domain] = parts as [string, string];
  const hashed = zbase32(createHash('sha1').update(local.toLowerCase()).digest());
  const l = uriEscape(local);
  return {
    advanced: `https://openpgpkey.${domain}/.well-known/openpgpkey/${domain.toLowerCase()}/hu/${hashed}?l=${l}`,
    direct: `https://${domain}/.well-known/openpgpkey/hu/${hashed}?l=${l}`,
  };
}
