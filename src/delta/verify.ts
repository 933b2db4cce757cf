import type { Repo } from '../repo/repo.js';
import type { SignEngine } from '../sign/engines.js';
import { verifySuperblock } from './signed-superblock.js';
import { readSuperblockFile } from './superblock-file.js';

/**
 * `static-delta verify DELTA [KEY…]`: checks a delta's superblock signatures with `engine`
 * against `keys` (null: the engine's default keys), as ostree 2022.7's
 * `ostree_repo_static_delta_verify_signature`. Returns the engine's success message; throws
 * ostree's words for a delta that is unsigned, signed by no engine of this kind, or by no key.
 */
export function verifyDelta(repo: Repo, id: string, engine: SignEngine, keys: string[] | null): string {
  return verifySuperblock(readSuperblockFile(repo.path, id), engine, keys, `static delta ${id}`);
}
