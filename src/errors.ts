/**
 * The one error class grove throws for anything a user can cause: bad input, a missing or
 * foreign repository, a corrupt object. `code` is stable and scripts may match on it; `message`
 * names the path, ref, option or object at fault; `hint` says what to do about it.
 *
 * Programmer errors (broken invariants) stay plain `Error`s.
 */
export class GroveError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly path?: string;
  /** For corruption: the checksum (or size) the object should have had, and what it had. */
  readonly expected?: string;
  readonly found?: string;
  /**
   * What is at fault when `message` is ostree's words and they do not name it (`mkdirat: File
   * exists`): the command line adds it in brackets, except run as `ostree`, where the line must
   * be ostree's own.
   */
  readonly subject?: string;

  constructor(code: string, message: string, opts: { hint?: string | undefined; path?: string | undefined; cause?: unknown; expected?: string | undefined; found?: string | undefined; subject?: string | undefined } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GroveError';
    this.code = code;
    if (opts.hint !== undefined) this.hint = opts.hint;
    if (opts.path !== undefined) this.path = opts.path;
    if (opts.expected !== undefined) this.expected = opts.expected;
    if (opts.found !== undefined) this.found = opts.found;
    if (opts.subject !== undefined) this.subject = opts.subject;
  }

  /** Structured clone drops classes; this is what crosses the worker boundary. */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message, hint: this.hint, path: this.path, expected: this.expected, found: this.found, subject: this.subject };
  }

  static fromJSON(e: SerializedError): GroveError {
    return new GroveError(e.code, e.message, { hint: e.hint, path: e.path, expected: e.expected, found: e.found, subject: e.subject });
  }
}

export interface SerializedError {
  code: string;
  message: string;
  hint?: string | undefined;
  path?: string | undefined;
  expected?: string | undefined;
  found?: string | undefined;
  subject?: string | undefined;
}

/** True when `e` is a Node system error with the given errno code (ENOENT, EEXIST, ...). */
export function isErrno(e: unknown, ...codes: string[]): e is NodeJS.ErrnoException {
  return typeof e === 'object' && e !== null && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

/**
 * glibc's strerror(3) text for an errno code, for messages that must read as libostree's and
 * GLib's do (Node's own say `ENOENT: no such file or directory, …`).
 */
export function strerror(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  return STRERROR[code] ?? (e as Error)?.message ?? String(e);
}

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
  EBUSY: 'Device or resource busy',
  ENOSPC: 'No space left on device',
  EEXIST: 'File exists',
  ENOTEMPTY: 'Directory not empty',
  EMFILE: 'Too many open files',
};
