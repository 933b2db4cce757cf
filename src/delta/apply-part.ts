import { GroveError } from '../errors.js';
import { defaultCompressBackend } from '../format/compress.js';
import { encode } from '../format/gvariant.js';
import { sha256Factory } from '../format/hash.js';
import type { ObjectType } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import type { Transaction } from '../repo/transaction.js';
import type { WorkerPool } from '../pool/pool.js';
import { storeContent, type Stored } from '../store/write-content.js';
import { executePart, type DeltaSink } from './execute.js';
import { inlineKey, type DeltaName } from './names.js';
import { openPart, payloadLimit } from './part.js';
import { readSourceContent } from './read-source.js';
import { DELTAPART_VERSION, superblockMeta, type DeltaObject, type PartEntry, type Superblock } from './superblock.js';

/**
 * What applying a delta does the same way offline (apply-offline.ts) and in a pull
 * (pull-deltas.ts): which parts are needed, where a part's bytes are when the superblock holds
 * them, the commit's detached metadata, opening and running a part, and the sink that stores
 * what a part yields through the store's writers into the transaction.
 */

/** Refuses a part newer than ostree 2022.7 reads. */
export function checkPartVersions(parts: Iterable<PartEntry>): void {
  for (const p of parts) if (p.version > DELTAPART_VERSION) throw new GroveError('GROVE_BAD_DELTA', `Delta part has too new version ${p.version}`);
}

/** The parts with an object not here yet (ostree skips a part whose objects it all has). */
export function partsNeeded(sb: Superblock, have: (checksum: string, type: ObjectType) => boolean): Array<{ entry: PartEntry; index: number }> {
  return sb.parts.map((entry, index) => ({ entry, index })).filter(({ entry }) => !entry.objects.every((o: DeltaObject) => have(o.checksum, o.type)));
}

/** Part `i`'s file bytes when the superblock holds the part (`--inline`), else null. */
export function inlinePart(sb: Superblock, name: DeltaName, i: number): Uint8Array | null {
  const v = superblockMeta(sb, inlineKey(name, i));
  return v !== undefined && v.type === '(yay)' ? encode('(yay)', v.value) : null;
}

/** The to-commit's detached metadata the delta carries, as bytes, else null. */
export function deltaDetachedMetadata(sb: Superblock, name: DeltaName): Uint8Array | null {
  const v = superblockMeta(sb, inlineKey(name, 'commitmeta'));
  return v !== undefined && v.type === 'a{sv}' ? encode('a{sv}', v.value) : null;
}

/**
 * Opens part `entry` from its file bytes — checked against the superblock's checksum unless the
 * superblock itself held them (`inline`), as ostree does — within what its objects allow (on a
 * thread of `pool` when given, see inflateXzOn), and runs it into `sink`.
 */
export async function applyPart(entry: PartEntry, bytes: Uint8Array, inline: boolean, sink: DeltaSink, where: string, pool?: WorkerPool): Promise<void> {
  const limit = payloadLimit(entry.usize, entry.objects.length);
  const part = await openPart(bytes, inline ? null : entry.checksum, limit, where, pool);
  await executePart(part, entry.objects, sink, limit, where);
}

/**
 * Stores what parts yield into the transaction, each object checked against its checksum by the
 * store's writers (named as coming from `origin`); `onStored` hears of each non-commit object.
 */
export async function storeSink(repo: Repo, tx: Transaction, origin: string, onStored: (o: { checksum: string; type: ObjectType }, stored?: Stored) => void = () => undefined): Promise<DeltaSink> {
  const target = tx.storeTarget(defaultCompressBackend());
  const sha = await sha256Factory();
  return {
    metadata: async (type, checksum, bytes) => {
      await tx.writeMetadata(type, bytes, { expected: checksum, where: `${type} object ${checksum} from ${origin}` });
      if (type !== 'commit') onStored({ checksum, type });
    },
    content: async (checksum, header, data) => {
      const stored = storeContent(target, sha, header, data, { expected: checksum, where: `file object ${checksum} from ${origin}` });
      onStored({ checksum, type: 'file' }, stored);
    },
    hasContent: (checksum) => tx.hasStagedOrStored(checksum, 'file'),
    readSource: (checksum) => readSourceContent(repo, checksum),
  };
}
