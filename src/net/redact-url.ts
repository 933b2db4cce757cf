/**
 * `url` fit for a message: its user info (`user:password@`), if any, becomes `***@`. The rest is
 * left as written. A URL can carry an access token as its user name alone, so the whole user
 * info goes, not only the password (libostree drops only the password from its errors).
 *
 * Works on strings that do not parse as URLs too: an invalid URL is also reported.
 */
export function redactUrl(url: string): string {
  // The authority runs to the first '/', '?' or '#'; its user info ends at its last '@', as the
  // WHATWG parser reads `http://u:p@ss@host/`.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

/** `Basic …` for the user info of `url`, as libcurl sends it for ostree; null when it has none. */
export function basicAuthorization(url: URL): string | null {
  if (url.username === '' && url.password === '') return null;
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return `Basic ${Buffer.from(`${decode(url.username)}:${decode(url.password)}`, 'utf8').toString('base64')}`;
}
