import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';

/**
 * node:crypto, required on first use: loading it is 3 ms of the start of every command, and the
 * quick ones (refs, rev-parse, --version) never hash.
 */
let crypto: typeof Crypto | undefined;
const createHash = (algorithm: string): Crypto.Hash => (crypto ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto).createHash(algorithm);

/**
 * Incremental SHA-256. Two backends with identical output: `node` (OpenSSL through node:crypto,
 * which uses the CPU's SHA extensions when present) and `wasm` (hash-wasm). Which is faster
 * depends on the CPU; `bench/` measures both.
 */
export interface Sha256 {
  update(data: Uint8Array): void;
  /** The 32-byte digest. The hasher must not be used afterwards. */
  digest(): Uint8Array;
}

export type HashBackend = 'node' | 'wasm';
export const HASH_BACKENDS: readonly HashBackend[] = ['node', 'wasm'];

/** A factory of fresh hashers; obtained once per thread because the WASM one loads async. */
export type Sha256Factory = () => Sha256;

/**
 * The default backend: `GROVE_HASH` when set, else node:crypto — on this project's machines
 * OpenSSL's SHA-NI path is faster than hash-wasm (see bench/ for the figures).
 */
export function defaultHashBackend(): HashBackend {
  const env = process.env['GROVE_HASH'];
  if (env === 'node' || env === 'wasm') return env;
  return 'node';
}

/** Loads the backend's code (once) and returns a synchronous factory of hashers. */
export async function sha256Factory(
  backend: HashBackend = defaultHashBackend(),
  concurrent = 16,
): Promise<Sha256Factory> {
  if (backend === 'node') {
    return () => {
      const h = createHash('sha256');
      return {
        update: (d) => { h.update(d); },
        digest: () => new Uint8Array(h.digest()),
      };
    };
  }
  // hash-wasm instances are reusable after init() but are created asynchronously, so a fixed set
  // is made up front; a thread never hashes more than `concurrent` objects at once.
  // Loaded on demand: importing hash-wasm costs ~0.2 s of startup that the node backend never needs.
  const { createSHA256 } = await import('hash-wasm');
  const free = await Promise.all(Array.from({ length: concurrent }, () => createSHA256()));
  return () => {
    const h = free.pop();
    if (h === undefined) throw new Error(`more than ${concurrent} concurrent hash-wasm hashers`);
    h.init();
    return {
      update: (d) => { h.update(d); },
      digest: () => {
        const out = h.digest('binary');
        free.push(h);
        return out;
      },
    };
  };
}

/** One-shot SHA-256 with node:crypto, for metadata objects on the main thread. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}
