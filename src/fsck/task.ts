import type { CompressBackend } from '../format/compress.js';
import type { HashBackend } from '../format/hash.js';
import type { StoreRef } from '../store/paths.js';

/** fsck's worker task: re-hash a batch of content objects (see verify-content.ts). */
export interface VerifyTask {
  kind: 'verify-content';
  ctx: StoreRef & { hash: HashBackend; compress: CompressBackend };
  checksums: string[];
}

export interface VerifyResult {
  /** Objects that failed, with a one-line reason each. */
  bad: Array<{ checksum: string; message: string; missing?: boolean }>;
  bytes: number;
}
