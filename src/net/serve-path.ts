import { parseObjectName } from '../store/paths.js';

/**
 * What `grove serve` answers: the request-target rules and the allowlist of repository files that
 * a pull fetches. Pure code, no I/O; the server separately checks where a path really leads.
 */

/** How a served file is labelled and how long caches may keep it. */
export type ServedKind = 'object' | 'text' | 'metadata';

export type Target =
  | { ok: true; segments: string[]; kind: ServedKind }
  | { ok: false; status: 400 | 404 };

/** Single files at the top of the repository that a pull may ask for. */
const TOP_FILES: Record<string, ServedKind> = {
  config: 'text',
  summary: 'metadata',
  'summary.sig': 'metadata',
  // flatpak's indexed summaries, fetched by `flatpak` from the same kind of static repository.
  'summary.idx': 'metadata',
  'summary.idx.sig': 'metadata',
};

const REF_KINDS = new Set(['heads', 'remotes', 'mirrors']);

/**
 * Decodes a raw request target (`req.url`, exactly as the client sent it) into path segments,
 * then applies {@link classify}. Anything ambiguous is a 400: a target that does not start with
 * `/` (absolute-form, `*`), a backslash, an empty segment, `.` or `..` (raw or percent-encoded),
 * an encoded `/` or `\`, NUL or any control character, bad percent-encoding. The query string is
 * ignored (CDNs add cache-busting ones). A trailing `/` names a directory: 404, never a listing.
 */
export function parseTarget(raw: string): Target {
  if (!raw.startsWith('/') || raw.includes('\\')) return { ok: false, status: 400 };
  const q = raw.indexOf('?');
  const rawPath = (q < 0 ? raw : raw.slice(0, q)).slice(1);
  const parts = rawPath.split('/');
  if (parts[parts.length - 1] === '') {
    // `/` itself or `…/`: a directory. Still reject traversal in the rest before saying 404.
    parts.pop();
    return decodeAll(parts) === null ? { ok: false, status: 400 } : { ok: false, status: 404 };
  }
  const segments = decodeAll(parts);
  if (segments === null) return { ok: false, status: 400 };
  const kind = classify(segments);
  return kind === null ? { ok: false, status: 404 } : { ok: true, segments, kind };
}

function decodeAll(parts: string[]): string[] | null {
  const out: string[] = [];
  for (const p of parts) {
    let s: string;
    try {
      s = decodeURIComponent(p);
    } catch {
      return null;
    }
    if (s === '' || s === '.' || s === '..' || /[/\\\x00-\x1f\x7f]/.test(s)) return null;
    out.push(s);
  }
  return out;
}

/**
 * Which of a repository's files are served, by path segments relative to its root: `config`,
 * the summary and its signature, loose objects under `objects/XX/` with ostree's names, refs
 * under `refs/heads|remotes|mirrors/`, static deltas and their indexes. Nothing else: not
 * `tmp/`, `state/`, `.lock`, grove's `grove/index/`, `extensions/`; no hidden names and nothing
 * ending in `.lock` anywhere. Returns null for what is refused.
 */
export function classify(segments: string[]): ServedKind | null {
  if (segments.some((s) => s.startsWith('.') || s.endsWith('.lock'))) return null;
  const [top, ...rest] = segments;
  if (top === undefined) return null;
  if (rest.length === 0) return TOP_FILES[top] ?? null;
  switch (top) {
    case 'objects':
      return rest.length === 2 && parseObjectName(rest[0]!, rest[1]!) !== null ? 'object' : null;
    case 'refs':
      return rest.length >= 2 && REF_KINDS.has(rest[0]!) ? 'text' : null;
    // `deltas/XX/REST/{superblock,0,1,…}`; a regenerated delta keeps its name, so not immutable.
    case 'deltas':
    // `delta-indexes/XX/REST.index`, rewritten as deltas are added.
    case 'delta-indexes':
    // flatpak's summary deltas.
    case 'summaries':
      return 'metadata';
    default:
      return null;
  }
}

/** `Content-Type` for a kind. */
export function contentType(kind: ServedKind): string {
  return kind === 'text' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

/**
 * `Cache-Control` for a kind. Objects are named by the checksum of their content and verified by
 * every client, so a CDN may keep them for good; everything else changes in place (refs, the
 * summary) and must be revalidated, which costs a 304 thanks to the ETag.
 */
export function cacheControl(kind: ServedKind): string {
  return kind === 'object' ? 'public, max-age=31536000, immutable' : 'no-cache';
}
