import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { tempName } from '../repo/fsutil.js';

/**
 * A remote's cookies, where ostree keeps them: `REPO/REMOTE.cookies.txt`, a Netscape cookie jar
 * (one cookie a line: domain, include-subdomains TRUE|FALSE, path, secure TRUE|FALSE, expiry in
 * Unix seconds, name, value, separated by tabs). `remote add-cookie`, `delete-cookie` and
 * `list-cookies` edit and show it; a pull sends the cookies that match each request, as
 * ostree's libcurl fetcher does.
 */

export const cookieJarName = (remote: string): string => `${remote}.cookies.txt`;

/** One line of the jar as ostree's editor reads it. */
export interface JarLine {
  line: string;
  domain: string; flag: string; path: string; secure: string; expiration: bigint; name: string; value: string;
}

const C_SPACE = /[ \t\n\v\f\r]/;

/**
 * One line as glibc's `sscanf(line, "%ms\t%ms\t%ms\t%ms\t%llu\t%ms\t%ms")` reads it, which is
 * how ostree finds the cookies it edits and lists: each `\t` of the format skips any run of
 * white space (or none), `%ms` takes a run of non-space, `%llu` an optional sign and digits
 * (so `12ab` is 12 followed by the field `ab`, and `-1` wraps). Null unless all seven convert.
 */
export function scanJarLine(line: string): JarLine | null {
  let i = 0;
  const skip = () => { while (i < line.length && C_SPACE.test(line[i]!)) i++; };
  const word = (): string | null => {
    skip();
    const start = i;
    while (i < line.length && !C_SPACE.test(line[i]!)) i++;
    return i > start ? line.slice(start, i) : null;
  };
  const number = (): bigint | null => {
    skip();
    let neg = false;
    if (line[i] === '+' || line[i] === '-') neg = line[i++] === '-';
    const start = i;
    while (i < line.length && line[i]! >= '0' && line[i]! <= '9') i++;
    if (i === start) return null;
    const MAX = (1n << 64n) - 1n;
    const n = BigInt(line.slice(start, i));
    // strtoull: an overflow is ULLONG_MAX whatever the sign; else a minus sign negates modulo 2^64.
    if (n > MAX) return MAX;
    return neg ? (-n) & MAX : n;
  };
  const domain = word(); const flag = domain === null ? null : word(); const p = flag === null ? null : word();
  const secure = p === null ? null : word();
  const expiration = secure === null ? null : number();
  const name = expiration === null ? null : word();
  const value = name === null ? null : word();
  if (value === null) return null;
  return { line, domain: domain!, flag: flag!, path: p!, secure: secure!, expiration: expiration!, name: name!, value };
}

/** The cookie lines of a jar's text (split at `\n`), as ostree's editor finds them; other lines are skipped. */
export function parseJarLines(text: string): JarLine[] {
  return text.split('\n').map(scanJarLine).filter((l): l is JarLine => l !== null);
}

/** The jar's text; empty when there is none. Failures read as ostree's (its errno text alone, or GLib's "Invalid UTF-8"). */
function readJar(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return '';
    if (typeof (e as NodeJS.ErrnoException).code === 'string') throw new GroveError('GROVE_IO', strerror(e), { path: file, cause: e });
    throw e;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GroveError('GROVE_BAD_CONFIG', 'Invalid UTF-8', { path: file });
  }
}

/**
 * `ostree remote add-cookie`: appends a cookie that expires in 25 years (a subdomain cookie when
 * the domain starts with a dot, never secure-only). The remote need not exist, as in ostree.
 */
export function addCookie(repoPath: string, remote: string, c: { domain: string; path: string; name: string; value: string }, now = new Date()): void {
  // g_date_time_add_years: 29 February becomes 28 February in a year that has none.
  const expires = new Date(now);
  expires.setUTCFullYear(now.getUTCFullYear() + 25);
  if (expires.getUTCMonth() !== now.getUTCMonth()) expires.setUTCDate(0);
  const line = `${c.domain}\t${c.domain.startsWith('.') ? 'TRUE' : 'FALSE'}\t${c.path}\tFALSE\t${Math.floor(expires.getTime() / 1000)}\t${c.name}\t${c.value}\n`;
  const jar = cookieJarName(remote);
  try {
    fs.appendFileSync(path.join(repoPath, jar), line, { mode: 0o644 });
  } catch (e) {
    if (typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    throw new GroveError('GROVE_IO', `open(${jar}): ${strerror(e)}`, { path: path.join(repoPath, jar), cause: e });
  }
}

/**
 * `ostree remote delete-cookie`: rewrites the jar without the cookies of that domain, path and
 * name; false when none matched. The jar is rewritten (and made, when there was none) even then,
 * as ostree does it.
 */
export function deleteCookie(repoPath: string, remote: string, c: { domain: string; path: string; name: string }): boolean {
  // ostree asserts the jar is a name in the repository (it aborts); grove says so.
  if (remote.includes('/')) throw new GroveError('GROVE_BAD_REF', `Invalid remote name ${remote}: a cookie jar is a file of the repository`);
  const file = path.join(repoPath, cookieJarName(remote));
  let found = false;
  let kept = '';
  for (const l of parseJarLines(readJar(file))) {
    if (l.domain === c.domain && l.path === c.path && l.name === c.name) found = true;
    else kept += `${l.line}\n`;
  }
  const tmp = path.join(repoPath, tempName('.cookies-'));
  // ostree writes an O_TMPFILE made with mode 0600 and links it into place.
  try {
    fs.writeFileSync(tmp, kept, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    if (typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    throw new GroveError('GROVE_IO', `${cookieJarName(remote)}: ${strerror(e)}`, { path: file, cause: e });
  }
  return found;
}

/** `ostree remote list-cookies`, from `jarPath` (ostree opens the jar's name relative to the current directory). */
export function listCookiesText(jarPath: string): string {
  let out = '';
  for (const l of parseJarLines(readJar(jarPath))) {
    const expires = utcTime(l.expiration);
    out += `--\nDomain: ${l.domain}\nPath: ${l.path}\nName: ${l.name}\nSecure: ${l.secure}\n${expires !== null ? `Expires: ${expires}\n` : ''}Value: ${l.value}\n`;
  }
  return out;
}

/**
 * `%Y-%m-%d %H:%M:%S +0000`, or null outside GDateTime's years 1 to 9999: ostree hands the
 * unsigned expiry to g_date_time_new_from_unix_utc, which reads it as a signed 64-bit number.
 */
function utcTime(secs: bigint): string | null {
  const t = BigInt.asIntN(64, secs);
  if (t < -62135596800n || t > 253402300799n) return null;
  const d = new Date(Number(t) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  // GLib's %Y is not padded (year 1 prints as 1).
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** A cookie a request may carry: plain data, so it crosses to the pull's worker threads. */
export interface Cookie { domain: string; tailmatch: boolean; path: string; secure: boolean; expires: number; name: string; value: string }

/**
 * The cookies of a jar as libcurl loads a cookie file: tab-separated lines of seven fields (six
 * for an empty value); `#HttpOnly_` before the domain marks an HTTP-only cookie, other `#` lines
 * are comments; cookies already expired are dropped (expiry 0 is a session cookie).
 */
export function loadCookies(text: string, nowSecs = Date.now() / 1000): Cookie[] {
  const out: Cookie[] = [];
  for (let line of text.split('\n')) {
    line = line.replace(/\r$/, '');
    if (line.startsWith('#HttpOnly_')) line = line.slice('#HttpOnly_'.length);
    else if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.split('\t');
    if (f.length !== 7 && f.length !== 6) continue;
    const expires = Number(f[4]);
    if (!Number.isFinite(expires) || (expires !== 0 && expires < nowSecs)) continue;
    out.push({
      domain: f[0]!.replace(/^\./, '').toLowerCase(),
      tailmatch: f[1] === 'TRUE',
      path: f[2] === '' ? '/' : f[2]!,
      secure: f[3] === 'TRUE',
      expires,
      name: f[5]!,
      value: f[6] ?? '',
    });
  }
  return out;
}

/** The remote's cookies for a pull: none when it has no jar (or it is not a regular file). */
export function remoteCookies(repoPath: string, remote: string): Cookie[] {
  const file = path.join(repoPath, cookieJarName(remote));
  if (fs.statSync(file, { throwIfNoEntry: false })?.isFile() !== true) return [];
  return loadCookies(fs.readFileSync(file, 'utf8'));
}

/** RFC 6265 path-match, as libcurl applies it. */
function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (cookiePath === '/' || cookiePath === requestPath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/**
 * The `Cookie` header value for a request to `url`, or null when no cookie matches: host (exact,
 * or a subdomain for include-subdomains cookies), path and scheme (secure cookies over https
 * only). Longest paths first, as libcurl orders them.
 */
export function cookieHeader(cookies: readonly Cookie[], url: URL): string | null {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const matching = cookies.filter((c) => (host === c.domain || (c.tailmatch && host.endsWith(`.${c.domain}`)))
    && pathMatches(c.path, url.pathname)
    && (!c.secure || url.protocol === 'https:'));
  if (matching.length === 0) return null;
  const order = matching.map((c, i) => ({ c, i })).sort((a, b) => (b.c.path.length - a.c.path.length) || (b.c.domain.length - a.c.domain.length) || (b.c.name.length - a.c.name.length) || (a.i - b.i));
  const value = order.map(({ c }) => `${c.name}=${c.value}`).join('; ');
  if (/[\r\n\0]/.test(value)) throw new GroveError('GROVE_BAD_CONFIG', 'a cookie in the remote\'s cookie jar holds a line break');
  return value;
}
