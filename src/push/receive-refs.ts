import { GroveError } from '../errors.js';
import { isChecksum } from '../format/checksum.js';
import { isValidRef } from '../format/names.js';
import type { Repo } from '../repo/repo.js';
import { readRef, updateRefs } from '../repo/refs.js';
import { isCommitPartial } from '../repo/partial.js';
import type { SignWith } from '../sign/signatures.js';
import { publishSummary } from '../net/publish-summary.js';
import { firstMissing } from './complete.js';
import { mayMove, type TokenGrant } from './tokens.js';

export interface RefUpdate { ref: string; from: string | null; to: string }

/**
 * `moved`: the ref now names `to`; `unchanged`: it did already; `refused`: it names `server`,
 * not the `from` the builder expected (another builder moved it), or `to` is not complete here.
 */
export interface RefResult { ref: string; status: 'moved' | 'unchanged' | 'refused'; server: string | null; to: string; message?: string }

/** Ref moves a request may ask for at most. */
const MAX_UPDATES = 4096;

/** Parses and checks a `refs` request's JSON; throws GROVE_BAD_REQUEST naming what is wrong. */
export function parseRefRequest(text: string): { updates: RefUpdate[]; force: boolean } {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new GroveError('GROVE_BAD_REQUEST', 'ref update is not JSON');
  }
  const o = j as { updates?: unknown; force?: unknown };
  if (typeof o !== 'object' || o === null || !Array.isArray(o.updates)) throw new GroveError('GROVE_BAD_REQUEST', 'ref update has no "updates" list');
  if (o.updates.length === 0 || o.updates.length > MAX_UPDATES) throw new GroveError('GROVE_BAD_REQUEST', `ref update must move 1 to ${MAX_UPDATES} refs`);
  const seen = new Set<string>();
  const updates = o.updates.map((u: unknown): RefUpdate => {
    const { ref, from, to } = (u ?? {}) as { ref?: unknown; from?: unknown; to?: unknown };
    if (typeof ref !== 'string' || !isValidRef(ref)) throw new GroveError('GROVE_BAD_REQUEST', `invalid ref ${JSON.stringify(ref)}`);
    if (seen.has(ref)) throw new GroveError('GROVE_BAD_REQUEST', `ref ${ref} listed twice`);
    seen.add(ref);
    if (typeof to !== 'string' || !isChecksum(to)) throw new GroveError('GROVE_BAD_REQUEST', `ref ${ref}: "to" is not a checksum`);
    if (from !== null && (typeof from !== 'string' || !isChecksum(from))) throw new GroveError('GROVE_BAD_REQUEST', `ref ${ref}: "from" is neither null nor a checksum`);
    return { ref, from, to };
  });
  if (o.force !== undefined && typeof o.force !== 'boolean') throw new GroveError('GROVE_BAD_REQUEST', '"force" is not true or false');
  return { updates, force: o.force === true };
}

/**
 * Moves refs of a receiving server, compare-and-swap: each ref moves from the value the builder
 * saw (`from`) to its new commit, unless another builder moved it meanwhile (`force` moves it
 * whatever it names). Every ref is checked against the token's prefixes before any moves; the
 * commit must be on the server, not partial, with everything it reaches. Runs under the
 * server's ref mutex, so two requests never interleave their compare and their swap. After any
 * ref moved, the summary is written again (and signed, with `sign`), so clients pulling see the
 * new refs and their objects together.
 */
export async function receiveRefs(repo: Repo, grant: TokenGrant, req: { updates: RefUpdate[]; force: boolean }, sign: SignWith | undefined): Promise<RefResult[]> {
  for (const u of req.updates) {
    if (!mayMove(grant, u.ref)) throw new GroveError('GROVE_FORBIDDEN', `token of line ${grant.line} of the tokens file may not move ref ${u.ref}`);
  }
  const results: RefResult[] = [];
  const moves: Array<[string, string]> = [];
  for (const u of req.updates) {
    const server = await readRef(repo.path, u.ref);
    const base = { ref: u.ref, server, to: u.to };
    if (server === u.to) {
      results.push({ ...base, status: 'unchanged' });
      continue;
    }
    if (!req.force && server !== u.from) {
      results.push({ ...base, status: 'refused', message: `${u.ref}: the server has ${server ?? 'no such ref'}, which ${u.to} does not build on (another builder pushed it; pull and rebuild, or push --force to replace it)` });
      continue;
    }
    const incomplete = await whyIncomplete(repo, u.to);
    if (incomplete !== null) {
      results.push({ ...base, status: 'refused', message: `${u.ref}: ${incomplete}` });
      continue;
    }
    moves.push([u.ref, u.to]);
    results.push({ ...base, status: 'moved' });
  }
  if (moves.length > 0) {
    // Everything the commits reach was made durable when it was received; the refs are written
    // atomically and synced, and only then does the summary name them.
    await updateRefs(repo, moves);
    await publishSummary(repo, { ...(sign && { sign }) });
  }
  return results;
}

async function whyIncomplete(repo: Repo, commit: string): Promise<string | null> {
  if (!(await repo.hasObject(commit, 'commit'))) return `commit ${commit} was never pushed to the server`;
  if (isCommitPartial(repo.path, commit)) return `commit ${commit} is partial on the server`;
  const missing = firstMissing(repo, await repo.readMetadata(commit, 'commit'), `commit ${commit}`);
  return missing === null ? null : `commit ${commit} is not complete on the server: it lacks ${missing.replace('.', ' (')})`;
}
