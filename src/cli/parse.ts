import { GroveError } from '../errors.js';
import type { SignWith } from '../sign/signatures.js';

/** Option-value parsers for commander: each names the option in its error. */

export function parseUint(option: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) {
      throw new GroveError('GROVE_BAD_OPTION', `${option}: '${v}' is not a non-negative 32-bit integer`);
    }
    return Number(v);
  };
}

/**
 * `--timestamp`: `@SECONDS`, or an ISO 8601 date/time (`2020-01-01`, `2020-01-01T12:30`,
 * `2020-01-01 00:00:00 +0000`). As in ostree, a time without a zone is local time (TZ), and a
 * date alone is local midnight. ostree's gnulib parser also takes words (`yesterday`, `next
 * monday`); grove refuses those, in ostree's words for what it cannot parse.
 */
export function parseTimestamp(v: string): bigint {
  const at = /^@(\d+)$/.exec(v);
  if (at) return BigInt(at[1]!);
  let s = v.trim().replace(' ', 'T').replace(/ ?([+-]\d\d):?(\d\d)$/, '$1:$2');
  // ECMAScript reads a date alone as UTC but a date-time without a zone as local time.
  if (/^\d{4}-\d\d-\d\d$/.test(s)) s += 'T00:00:00';
  const ms = Date.parse(s);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(s) || Number.isNaN(ms) || ms < 0) {
    throw new GroveError('GROVE_BAD_OPTION', `Could not parse '${v}'`, { subject: '--timestamp' });
  }
  return BigInt(Math.floor(ms / 1000));
}

/** `KEY=VALUE` for repeatable options. */
export function parseKeyValue(option: string): (v: string, prev: Array<[string, string]> | undefined) => Array<[string, string]> {
  return (v, prev) => {
    const eq = v.indexOf('=');
    // ostree's words for a missing '='; an empty KEY, which ostree writes as a broken config line, is refused.
    if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', `Missing '=' in KEY=VALUE for ${option}`);
    if (eq === 0) throw new GroveError('GROVE_BAD_OPTION', `${option}: '${v}' has an empty KEY`);
    return [...(prev ?? []), [v.slice(0, eq), v.slice(eq + 1)]];
  };
}

/**
 * GLib's parse of an integer option (`G_OPTION_ARG_INT`): strtol base 0 (so `0x10` and `010`
 * are 16 and 8), the whole string, within a C int; its two messages.
 */
export function parseGInt(option: string): (v: string) => number {
  return (v) => {
    const m = /^[\t\n\v\f\r ]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(v);
    if (!m) throw new GroveError('GROVE_BAD_OPTION', `Cannot parse integer value \u201c${v}\u201d for ${option}`);
    const digits = m[2]!;
    const n = BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits) * (m[1] === '-' ? -1n : 1n);
    if (n > 2147483647n || n < -2147483648n) throw new GroveError('GROVE_BAD_OPTION', `Integer value \u201c${v}\u201d for ${option} out of range`);
    return Number(n);
  };
}

export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** ostree's boolean option values (`--fsync=POLICY`): 1/true/yes and 0/false/no/none, any case. */
export function parseBoolean(v: string): boolean {
  const s = v.toLowerCase();
  if (s === '1' || s === 'true' || s === 'yes') return true;
  if (s === '0' || s === 'false' || s === 'no' || s === 'none') return false;
  throw new GroveError('GROVE_BAD_OPTION', `Invalid boolean argument '${v}'`);
}

/**
 * The keys `--sign` (with `--sign-type`), `--gpg-sign` and `--gpg-homedir` name, as commit,
 * summary and serve take them: ed25519 keys, or keys of ostree's test engine `dummy`; another
 * `--sign-type` is refused in ostree's words.
 */
export function signOptions(opts: { sign?: string[]; signType: string; gpgSign?: string[]; gpgHomedir?: string }): SignWith {
  if (opts.sign && opts.signType !== 'ed25519' && opts.signType !== 'dummy') throw new GroveError('GROVE_BAD_OPTION', 'Requested signature type is not implemented');
  const keys = opts.signType === 'dummy' ? { dummy: opts.sign ?? [] } : { ed25519: opts.sign ?? [] };
  return { ...keys, gpg: opts.gpgSign ?? [], ...(opts.gpgHomedir !== undefined && { gpgHomedir: opts.gpgHomedir }) };
}
