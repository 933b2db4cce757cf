import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { tempName } from '../repo/fsutil.js';

/**
 * A remote's cookies, where ostree keeps them: `REPO/REMOTE.cookies.txt`, a Netscape cookie jar
 * (one cookie a line: domain, include-subdomains TRUE|FALSE, path, secure TRUE|FALSE, expiry in
 * Unix seconds, name, value, separated by tabs). `remote add-cookie`, `delete-cookie` and
 * `list-cookies` edit and show it; a pull sends the cookies that match each request, as
 * ostree's libcurl fetcher does.
 */

export const cookieJarName = (remote: string): string => `${remote}.cookies.txt`;

/** One line of the jar as ostree's editor reads it (whitespace-separated, seven fields at least). */
export interface JarLine {
  line: string;
  domain: string; flag: string; path: string; secure: string; expiration: bigint; name: string; value: string;
}

/**
 * The cookie lines of a jar's text, as ostree's `sscanf("%ms\t%ms\t%ms\t%ms\t%llu\t%ms\t%ms")`
 * finds them: fields split at any whitespace, the fifth a number; other lines are skipped.
 */
export function parseJarLines(text: string): JarLine[] {
  const out: JarLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(/[ \t\v\f\r]+/).filter((x) => x !== '');
    if (f.length < 7 || !/^\+?\d+$/.test(f[4]!)) continue;
    out.push({ line, domain: f[0]!, flag: f[1]!, path: f[2]!, secure: f[3]!, expiration: BigInt(f[4]!) & 0xffffffffffffffffn, name: f[5]!, value: f[6]! });
  }
  return out;
}

/** The jar's text; empty when there is none. */
function readJar(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return '';
    throw e;
  }
}

/**
 * `ostree remote add-cookie`: appends a cookie that expires in 25 years (a subdomain cookie when
 * the domain starts with a dot, never secure-only). The remote need not exist, as in ostree.
 */
export function addCookie(repoPath: string, remote: string, c: { domain: string; path: string; name: string; value: string }, now = new Date()): void {
  const expires = new Date(now);
  expires.setUTCFullYear(expires.getUTCFullYear() + 25);
  const line = `${c.domain}\t${c.domain.startsWith('.') ? 'TRUE' : 'FALSE'}\t${c.path}\tFALSE\t${Math.floor(expires.getTime() / 1000)}\t${c.name}\t${c.value}\n`;
  fs.appendFileSync(path.join(repoPath, cookieJarName(remote)), line, { mode: 0o644 });
}

/**
 * `ostree remote delete-cookie`: rewrites the jar without the cookies of that domain, path and
 * name; false when none matched. The jar is rewritten (and made, when there was none) even then,
 * as ostree does it.
 */
export function deleteCookie(repoPath: string, remote: string, c: { domain: string; path: string; name: string }): boolean {
  const file = path.join(repoPath, cookieJarName(remote));
  let found = false;
  let kept = '';
  for (const l of parseJarLines(readJar(file))) {
    if (l.domain === c.domain && l.path === c.path && l.name === c.name) found = true;
    else kept += `${l.line}\n`;
  }
  const tmp = path.join(repoPath, tempName('.cookies-'));
  // ostree writes an O_TMPFILE made with mode 0600 and links it into place.
  fs.writeFileSync(tmp, kept, { mode: 0o600 });
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
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

/** `%Y-%m-%d %H:%M:%S +0000`, or null past the year 9999 (GDateTime's range). */
function utcTime(secs: bigint): string | null {
  if (secs > 253402300799n) return null;
  const d = new Date(Number(secs) * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
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
