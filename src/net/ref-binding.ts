import { GroveError } from '../errors.js';
import { commitMetaValue, type Commit } from '../format/objects.js';

/** What `ostree commit -b REF` records: the refs the commit was made for (`as`). */
export const REF_BINDING_KEY = 'ostree.ref-binding';
/** With a collection ID, the collection the commit was made for (`s`). */
export const COLLECTION_BINDING_KEY = 'ostree.collection-binding';

/**
 * The bindings a pull checks, as ostree 2022.7's pull does (`_ostree_repo_verify_bindings`,
 * called as each commit is scanned): a commit asked for by a ref must list that ref in its
 * `ostree.ref-binding`, so a server cannot pass off one branch's commit as another's (a
 * correctly signed `testing` commit served as `stable`). A commit with no binding at all is
 * accepted, as is any commit asked for by checksum and every parent the walk reaches (ostree
 * scans those with no ref). When the source has a collection ID, the binding must be present and
 * `ostree.collection-binding` must name that collection.
 */
export class RefBindings {
  /** The source refs each target commit was asked for by. */
  private readonly requested = new Map<string, string[]>();

  /**
   * `targets[i]` resolved to `resolved[i]`; `collectionId` is the source's (a remote's
   * `collection-id`, or a local source repository's own); `disabled` is --disable-verify-bindings.
   */
  constructor(
    targets: ReadonlyArray<{ from: string; collection?: { ref: string } }>,
    resolved: ReadonlyArray<{ checksum: string }>,
    private readonly collectionId: string | null,
    private readonly disabled: boolean,
  ) {
    if (targets.length !== resolved.length) throw new Error('RefBindings: targets and resolved differ in length');
    targets.forEach((t, i) => {
      // A collection–ref is asked for by its ref name even with a commit given for it (create-usb --commit).
      const ref = t.collection?.ref ?? (/^[0-9a-f]{64}$/.test(t.from) ? null : t.from);
      if (ref === null) return;
      const c = resolved[i]!.checksum;
      const refs = this.requested.get(c) ?? [];
      refs.push(ref);
      this.requested.set(c, refs);
    });
  }

  /** Throws unless commit `checksum` may be pulled: before any of it is stored or a ref moves. */
  verify(checksum: string, commit: Commit): void {
    if (this.disabled) return;
    const refs = this.requested.get(checksum) ?? [null];
    for (const ref of refs) {
      const why = bindingError(commit, ref, this.collectionId);
      if (why !== null) {
        // ostree's words, so that what scripts match on ostree's output matches grove's too.
        throw new GroveError('GROVE_BAD_BINDING', `Commit ${checksum}: ${why}`, { hint: 'pull with --disable-verify-bindings to accept it' });
      }
    }
  }
}

/** Why `commit` may not be pulled by `ref` (null: by checksum) from a source of `collectionId`; null when it may. */
export function bindingError(commit: Commit, ref: string | null, collectionId: string | null): string | null {
  // A binding of another type counts as none, as GLib's typed lookup that ostree uses finds none.
  const binding = commitMetaValue(commit, REF_BINDING_KEY);
  const refs = binding?.type === 'as' ? (binding.value as string[]) : null;
  if (refs === null) return collectionId === null ? null : 'Expected commit metadata to have ref binding information, found none';
  if (ref !== null && !refs.includes(ref)) {
    const listed = refs.length > 0 ? refs.map((r) => `‘${r}’`).join(', ') : 'no refs';
    return `Commit has no requested ref ‘${ref}’ in ref binding metadata (${listed})`;
  }
  if (collectionId !== null) {
    const c = commitMetaValue(commit, COLLECTION_BINDING_KEY);
    if (c?.type !== 's') return 'Expected commit metadata to have collection ID binding information, found none';
    if (c.value !== collectionId) return `Commit has collection ID ‘${String(c.value)}’ in collection binding metadata, while the remote it came from has collection ID ‘${collectionId}’`;
  }
  return null;
}
