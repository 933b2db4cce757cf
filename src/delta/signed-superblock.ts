import { GroveError } from '../errors.js';
import { encode } from '../format/gvariant.js';
import { Variant } from '../format/objects.js';
import type { SignEngine } from '../sign/engines.js';
import { hasEngineSignatures, SIGNED_MAGIC, SIGNED_SUPERBLOCK_TYPE, unwrapSuperblock } from './superblock.js';

/**
 * Signed superblocks, as ostree 2022.7 writes and checks them (ostree-repo-static-delta-core.c
 * and -compilation.c): the plain superblock's bytes inside `(t magic, ay superblock, a{sv})`,
 * the dictionary holding the engine's signatures of those bytes under its metadata key. The
 * signature covers the superblock, and through its checksums every part, so one check vouches
 * for the whole delta.
 */

/** The signed form of `superblock`: one signature by each of `secrets`. */
export function signSuperblock(superblock: Uint8Array, engine: SignEngine, secrets: readonly string[]): Uint8Array {
  const signatures = secrets.map((k) => engine.sign(superblock, k));
  // 't' is written in this (little-endian) machine's order; ostree stores the magic big-endian,
  // so the file starts with the magic's letters either way.
  return encode(SIGNED_SUPERBLOCK_TYPE, [SIGNED_MAGIC.readBigUInt64LE(0), superblock, [[engine.metadataKey, new Variant('aay', signatures)]]]);
}

/**
 * Checks the signatures of a superblock file with `engine` against `publicKeys` (null: the
 * engine's default keys); returns the engine's success message, or throws ostree's words.
 */
export function verifySuperblock(file: Uint8Array, engine: SignEngine, publicKeys: string[] | null, where: string): string {
  const { bytes, signatures } = unwrapSuperblock(file, where);
  if (signatures === null) throw new GroveError('GROVE_BAD_SIGNATURE', 'no signatures in static-delta');
  const entry = signatures.find(([k]) => k === engine.metadataKey)?.[1];
  if (entry === undefined || entry.type !== 'aay') throw new GroveError('GROVE_BAD_SIGNATURE', `no signature for '${engine.metadataKey}' in static-delta superblock`);
  return engine.verify(bytes, entry.value as Uint8Array[], publicKeys);
}

/** Whether a superblock file carries signatures of any engine, as ostree asks before it applies one. */
export function carriesSignatures(file: Uint8Array, where: string): boolean {
  return hasEngineSignatures(unwrapSuperblock(file, where).signatures);
}
