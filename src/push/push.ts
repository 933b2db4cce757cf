import { GroveError } from '../errors.js';
import { validateRef } from '../format/names.js';
import { getRemote } from '../net/remotes.js';
import { isCommitPartial } from '../repo/partial.js';
import { listRefs, readRef, updateRefs } from '../repo/refs.js';
import type { Repo } from '../repo/repo.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { changedObjects } from '../store/tree-diff.js';
import { objectExists } from '../store/paths.js';
import { PushClient } from './client.js';
import { MAX_QUERY_NAMES, parseObjectName, type ObjectName } from './protocol.js';
import type { RefResult } from './receive-refs.js';
import { uploadObjects } from './upload.js';
import { mayMove } from './tokens.js';

export interface PushOptions {
  /** Local refs (refs/heads) to push, each to the server's ref of that name; default every one. */
  refs?: string[];
  /** The bearer token; else GROVE_PUSH_TOKEN, else the remote's `push-token` option. */
  token?: string;
  /** Move each ref whatever the server's names, even if another builder moved it meanwhile. */
  force?: boolean;
  /** Upload requests in flight (default 4). */
  parallel?: number;
  /** Times a request is retried after a network error or a busy server (default 5). */
  retries?: number;
  onProgress?: (p: PushProgress) => void;
}

export interface PushProgress {
  objects: number; objectsToSend: number;
  /** Request bytes sent so far, framing and retries included. */
  bytesSent: number;
  /** Bytes of the objects acknowledged, as they went on the wire (archive form for content). */
  objectBytes: number;
}

export interface PushedRef {
  ref: string;
  /** `refused` also when this builder saw the server's ref elsewhere than below its commit (nothing was sent for it). */
  status: RefResult['status'];
  /** What the server's ref named before (as the server last reported it). */
  server: string | null;
  commit: string;
  message?: string;
}

export interface PushResult {
  url: string;
  refs: PushedRef[];
  /**
   * Objects offered (what the commits reach beyond what the server's refs already had), those
   * the server lacked, those sent, and their bytes on the wire.
   */
  objects: { offered: number; missing: number; sent: number; bytes: number };
  /** Request body bytes sent (objects and queries), retries included. */
  bytesSent: number;
  seconds: number;
}

/**
 * Publishes `repo`'s commits to a receiving server (`grove serve --receive`): asks which of the
 * objects they reach the server lacks, in batches; uploads only those, several requests in
 * flight, commits last; then asks the server to move each ref from the value this builder saw
 * to the new commit. The value seen is the server's ref when the push began, and only when the
 * new commit builds on it (it is the commit, or one of its ancestors here): a ref another
 * builder moved elsewhere is refused, whether before the push or during it. A push that died is
 * simply run again: the server keeps every object it acknowledged, so only the rest is sent.
 */
export async function pushTo(repo: Repo, remote: string, opts: PushOptions = {}): Promise<PushResult> {
  const started = process.hrtime.bigint();
  const { url, remoteName, token } = resolveRemote(repo, remote, opts.token);
  const pushRefs = await localRefs(repo, opts.refs);
  const client = new PushClient(url, token, (opts.parallel ?? 4) + 1, opts.retries);
  try {
    const { refs: serverRefs, prefixes, line } = await client.getJson<{ refs: Record<string, string>; prefixes: string[]; line: number }>('refs', 'listing the server\'s refs');
    // The server checks again when refs move; checked here, nothing is uploaded in vain.
    for (const ref of pushRefs.keys()) {
      if (!mayMove({ prefixes }, ref)) throw new GroveError('GROVE_PUSH_DENIED', `push to ${client.where}: token of line ${line} of the tokens file may not move ref ${ref}`);
    }
    const results: PushedRef[] = [];
    const updates: Array<{ ref: string; from: string | null; to: string }> = [];
    for (const [ref, commit] of pushRefs) {
      const server = Object.hasOwn(serverRefs, ref) ? serverRefs[ref]! : null;
      if (server === commit) {
        results.push({ ref, status: 'unchanged', server, commit });
      } else if (opts.force || server === null || (await buildsOn(repo, commit, server))) {
        updates.push({ ref, from: server, to: commit });
      } else {
        results.push({ ref, status: 'refused', server, commit, message: `${ref}: the server has ${server}, which ${commit} does not build on (another builder pushed it; pull and rebuild, or push --force to replace it)` });
      }
    }
    const commits = [...new Set(updates.map((u) => u.to))];
    for (const c of commits) {
      if (isCommitPartial(repo.path, c)) throw new GroveError('GROVE_PARTIAL_COMMIT', `commit ${c} is partial in ${repo.path} (pulled with --subpath or --commit-metadata-only): push needs all of it`);
    }
    // What the server's ref reaches is on the server (a ref moves only to a complete commit):
    // only what differs from it is offered, so a small update asks about little.
    const offered = new Set<string>();
    for (const u of updates) {
      const base = u.from !== null && (await repo.hasObject(u.from, 'commit')) && !isCommitPartial(repo.path, u.from) ? u.from : null;
      for (const key of await objectsToOffer(repo, u.to, base)) offered.add(key);
    }
    const names: ObjectName[] = [...offered].map((key) => parseObjectName(key)!);
    const missing = await askMissing(client, names);
    const sent = await uploadObjects(repo, client, missing, { parallel: opts.parallel ?? 4, ...(opts.onProgress && { onProgress: opts.onProgress }) });
    if (updates.length > 0) {
      const { results: moved } = await client.postJson<{ results: RefResult[] }>('refs', { updates, force: opts.force === true }, 'moving refs');
      for (const r of moved) results.push({ ref: r.ref, status: r.status, server: r.server, commit: r.to, ...(r.message !== undefined && { message: r.message }) });
    }
    // What the server now has, as a pull would record it: `REMOTE:REF`.
    if (remoteName !== null) {
      const tracking = results.filter((r) => r.status !== 'refused').map((r): [string, string] => [`${remoteName}:${r.ref}`, r.commit]);
      if (tracking.length > 0) await updateRefs(repo, tracking);
    }
    const order = new Map([...pushRefs.keys()].map((r, i) => [r, i]));
    results.sort((a, b) => order.get(a.ref)! - order.get(b.ref)!);
    return {
      url: client.where,
      refs: results,
      objects: { offered: names.length, missing: missing.length, sent: sent.objects, bytes: sent.bytes },
      bytesSent: client.sent,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
  } finally {
    client.close();
  }
}

function resolveRemote(repo: Repo, remote: string, token: string | undefined): { url: string; remoteName: string | null; token: string } {
  let url: string;
  let remoteName: string | null = null;
  let configured: string | undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) {
    url = remote;
  } else {
    const r = getRemote(repo, remote);
    url = r.url;
    remoteName = r.name;
    configured = r.options.get('push-token');
  }
  const t = token ?? process.env['GROVE_PUSH_TOKEN'] ?? configured;
  if (t === undefined || t === '') {
    throw new GroveError('GROVE_BAD_OPTION', `push to ${remote}: no token (give --token, set GROVE_PUSH_TOKEN, or set the remote's push-token option)`);
  }
  return { url, remoteName, token: t };
}

async function localRefs(repo: Repo, refs: string[] | undefined): Promise<Map<string, string>> {
  if (refs === undefined || refs.length === 0) {
    const all = await listRefs(repo.path, { remotes: false });
    if (all.size === 0) throw new GroveError('GROVE_NO_REF', `${repo.path} has no refs to push`);
    return new Map([...all].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  const out = new Map<string, string>();
  for (const ref of refs) {
    validateRef(ref);
    const c = await readRef(repo.path, ref);
    if (c === null) throw new GroveError('GROVE_NO_REF', `ref '${ref}' not found in ${repo.path}`);
    out.set(ref, c);
  }
  return out;
}

/** The objects `commit` reaches that `base` does not (all of them without a base), the commit and its detached metadata included. */
async function objectsToOffer(repo: Repo, commit: string, base: string | null): Promise<string[]> {
  const read = (c: string): Uint8Array => readMetadataSync(repo, c, 'dirtree');
  const bytes = await repo.readMetadata(commit, 'commit');
  const keys = changedObjects(read, bytes, `commit ${commit}`, base === null ? null : { bytes: await repo.readMetadata(base, 'commit'), read });
  keys.add(`${commit}.commit`);
  if (objectExists(repo.objectsDir, commit, 'commitmeta', repo.mode)) keys.add(`${commit}.commitmeta`);
  return [...keys];
}

/** Parents followed at most when checking that a commit builds on the server's. */
const MAX_ANCESTRY = 100_000;

/** Whether `base` is an ancestor of `commit` by the parent links of the commits here. */
async function buildsOn(repo: Repo, commit: string, base: string): Promise<boolean> {
  let c: string | null = commit;
  for (let i = 0; c !== null && i < MAX_ANCESTRY; i++) {
    const parent: string | null = (await repo.loadCommit(c)).parent;
    if (parent === base) return true;
    if (parent === null || !(await repo.hasObject(parent, 'commit'))) return false;
    c = parent;
  }
  return false;
}

/** The objects of `names` the server lacks, asked in batches, two at a time. */
async function askMissing(client: PushClient, names: ObjectName[]): Promise<ObjectName[]> {
  const batches: ObjectName[][] = [];
  for (let i = 0; i < names.length; i += MAX_QUERY_NAMES) batches.push(names.slice(i, i + MAX_QUERY_NAMES));
  const answers: string[][] = new Array(batches.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < batches.length; i = next++) {
      const body = Buffer.from(`${batches[i]!.map((o) => `${o.checksum}.${o.type}`).join('\n')}\n`, 'latin1');
      answers[i] = (await client.postText('missing', body, 'asking which objects the server lacks')).split('\n').filter((l) => l !== '');
    }
  };
  await Promise.all([worker(), worker()]);
  const asked = new Set(names.map((o) => `${o.checksum}.${o.type}`));
  const out: ObjectName[] = [];
  for (const line of answers.flat()) {
    const o = parseObjectName(line);
    // The answer can only name what was asked.
    if (o === null || !asked.has(line)) throw new GroveError('GROVE_PUSH_FAILED', `push to ${client.where}: the server's missing-object answer names '${line.slice(0, 80)}', which was not asked`);
    out.push(o);
  }
  return out;
}
