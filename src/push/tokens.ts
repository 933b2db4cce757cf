import crypto from 'node:crypto';
import fs from 'node:fs';
import { GroveError, isErrno } from '../errors.js';
import { isValidRef } from '../format/names.js';

/**
 * The builders a receiving server accepts, read from a file of lines `TOKEN PREFIX [PREFIX…]`
 * (`#` starts a comment line; blank lines are skipped). A prefix ending in `*` matches every ref
 * that starts with what comes before the star (`os/x86_64/*` matches `os/x86_64/main` and
 * `os/x86_64/a/b`, `*` alone every ref); any other prefix names one ref exactly.
 */
export interface TokenGrant {
  /** SHA-256 of the token: what is compared, in constant time. */
  readonly digest: Buffer;
  /** The line it came from, for messages (never the token itself). */
  readonly line: number;
  readonly prefixes: readonly string[];
}

/** Shorter tokens are refused: a guessable token would give anyone the repository. */
export const MIN_TOKEN_LENGTH = 16;
/** A tokens file is read whole; this bounds what a mistaken path (a disk image, say) costs. */
const MAX_TOKENS_FILE = 1 << 20;

export class TokenTable {
  private constructor(private readonly grants: readonly TokenGrant[]) {}

  /** Reads and checks `file`; throws a GroveError naming the file and line at fault. */
  static load(file: string): TokenTable {
    let text: string;
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) throw new GroveError('GROVE_BAD_OPTION', `--receive: ${file} is not a regular file`);
      if (st.size > MAX_TOKENS_FILE) throw new GroveError('GROVE_BAD_OPTION', `--receive: ${file} is larger than ${MAX_TOKENS_FILE} bytes`);
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_BAD_OPTION', `--receive: ${file}: no such file`);
      if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_BAD_OPTION', `--receive: ${file}: permission denied`);
      throw e;
    }
    return TokenTable.parse(text, file);
  }

  static parse(text: string, where: string): TokenTable {
    const grants: TokenGrant[] = [];
    const seen = new Set<string>();
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const [token, ...prefixes] = line.split(/\s+/);
      const at = `${where}:${i + 1}`;
      if (token!.length < MIN_TOKEN_LENGTH) throw new GroveError('GROVE_BAD_OPTION', `${at}: token is shorter than ${MIN_TOKEN_LENGTH} characters`);
      if (!/^[\x21-\x7e]+$/.test(token!)) throw new GroveError('GROVE_BAD_OPTION', `${at}: token has characters outside printable ASCII`);
      if (prefixes.length === 0) throw new GroveError('GROVE_BAD_OPTION', `${at}: token grants no ref prefix (TOKEN PREFIX [PREFIX…])`);
      for (const p of prefixes) {
        const body = p.endsWith('*') ? p.slice(0, -1) : p;
        // `os/x86_64/*` and `os*` are prefixes of refs; what precedes the star must be a ref or a ref's start.
        const ok = p === '*' || (p.endsWith('*') ? isValidRef(body.replace(/\/$/, '')) || isValidRef(`${body}x`) : isValidRef(p));
        if (!ok) throw new GroveError('GROVE_BAD_OPTION', `${at}: '${p}' is not a ref or a ref prefix ending in '*'`);
      }
      const digest = crypto.createHash('sha256').update(token!).digest();
      const key = digest.toString('hex');
      if (seen.has(key)) throw new GroveError('GROVE_BAD_OPTION', `${at}: token listed twice`);
      seen.add(key);
      grants.push({ digest, line: i + 1, prefixes });
    }
    if (grants.length === 0) throw new GroveError('GROVE_BAD_OPTION', `${where}: no tokens`);
    return new TokenTable(grants);
  }

  /**
   * The grant of the token an `Authorization: Bearer TOKEN` header presents, or null. Every
   * grant is compared, each in constant time, so timing tells nothing of how close a guess was.
   */
  lookup(authorization: string | undefined): TokenGrant | null {
    const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization ?? '');
    if (!m) return null;
    const digest = crypto.createHash('sha256').update(m[1]!).digest();
    let found: TokenGrant | null = null;
    for (const g of this.grants) if (crypto.timingSafeEqual(g.digest, digest)) found = g;
    return found;
  }
}

/** Whether `grant` may move `ref`. */
export function mayMove(grant: Pick<TokenGrant, 'prefixes'>, ref: string): boolean {
  return grant.prefixes.some((p) => (p.endsWith('*') ? ref.startsWith(p.slice(0, -1)) : ref === p));
}
