import { GHashTable, collectionRefHash } from '../../format/ghash.js';

/**
 * What ostree's finders report (`OstreeRepoFinderResult`): a remote that claims some of the
 * requested collection–refs, which finder found it, its priority (lower first) and, once its
 * summary is read, when that summary was last modified.
 */

/** A collection–ref asked for: `(COLLECTION-ID, REF)`. */
export interface RefPair { id: string; ref: string }

/** The finders ostree 2022.7 has; grove lacks `lan` (it needs Avahi). */
export const FINDER_NAMES = ['config', 'lan', 'mount'] as const;
export type FinderName = typeof FINDER_NAMES[number];

/** The GObject type names ostree prints as a result's finder. */
export const FINDER_TYPE = { config: 'OstreeRepoFinderConfig', mount: 'OstreeRepoFinderMount' } as const;

export interface FoundRemote {
  /** A configured remote's name, or the one the mount finder makes up from the URL and keyring. */
  name: string;
  url: string;
  /** The configured remote whose GPG keys verify this one (a configured remote's own). */
  keyringRemote: string;
  /** Made up by the mount finder: refs pulled from it are written under keyringRemote. */
  dynamic: boolean;
}

export interface FinderResult {
  remote: FoundRemote;
  finder: 'config' | 'mount';
  priority: number;
  /** Each ref the result is about and the commit it gives for it (null: not this one's). */
  refs: GHashTable<RefPair, string | null>;
  /** From the summary's `ostree.summary.last-modified`; 0n when unknown. */
  summaryLastModified: bigint;
}

/** A table keyed by collection–refs, iterated in the order ostree's (`ostree_collection_ref_hash`) is. */
export function refTable<V>(): GHashTable<RefPair, V> {
  return new GHashTable<RefPair, V>((k) => collectionRefHash(k.id, k.ref), (a, b) => a.id === b.id && a.ref === b.ref);
}

const strcmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

const refsGiven = (r: FinderResult): number => [...r.refs.entries()].filter(([, c]) => c !== null).length;

/**
 * ostree_repo_finder_result_compare: priority, then the summary's age (older first, when both
 * are known; the difference as the C `gint` it returns), then fewer refs first, then the name.
 */
export function compareResults(a: FinderResult, b: FinderResult): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  if (a.summaryLastModified !== 0n && b.summaryLastModified !== 0n && a.summaryLastModified !== b.summaryLastModified) {
    return Number(BigInt.asIntN(32, a.summaryLastModified - b.summaryLastModified));
  }
  const [na, nb] = [refsGiven(a), refsGiven(b)];
  if (na !== nb) return na - nb;
  return strcmp(a.remote.name, b.remote.name);
}

/** GLib's g_uri_escape_string(s, NULL, FALSE): every byte but the unreserved ones as `%XX`. */
function uriEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The remote name ostree's mount finder gives a repository it found: escaped URI `_` escaped keyring, `%` made `_`. */
export function mountRemoteName(uri: string, keyring: string): string {
  return `${uriEscape(uri)}_${uriEscape(keyring)}`.replace(/%/g, '_');
}
