import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { parseRefspec } from '../format/names.js';
import { DETACHED_TYPE, signaturesOf, type Dict } from '../sign/signatures.js';
import { GPG_KEY } from '../sign/gpg.js';
import type { GpgSignatureInfo } from '../sign/gpg-verify-result.js';
import { decode } from '../format/gvariant.js';
import { objectPath } from '../store/paths.js';
import { commitMetaString, isPinned, pendingAndRollback, type Deployment, type SysrootState } from './deployments.js';

/**
 * `ostree admin status`: per deployment a line `* OS CHECKSUM.SERIAL (staged|pending|rollback)`
 * (the booted one starred; pending and rollback only exist on a booted system), then its
 * version, unlocked state, pin, origin and the commit's source title. When the origin's
 * remote verifies GPG signatures, the commit must carry some; `--verify` checks them.
 */

const GPG_NONE = 'GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)';

function readDetached(root: string, checksum: string): Dict | null {
  try {
    return decode(DETACHED_TYPE, fs.readFileSync(objectPath(path.join(root, 'ostree/repo/objects'), checksum, 'commitmeta', 'bare'))) as Dict;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function repoConfig(root: string): KeyFile {
  return KeyFile.parse(fs.readFileSync(path.join(root, 'ostree/repo/config'), 'utf8'), path.join(root, 'ostree/repo/config'));
}

/** `gpg-verify` of a remote in the sysroot repository's config: null when there is no such remote (ostree then checks nothing). */
function remoteGpgVerify(config: KeyFile, remote: string): boolean | null {
  const g = `remote "${remote}"`;
  if (!config.groups().includes(g)) return null;
  return config.getBoolean(g, 'gpg-verify') ?? true;
}

/** The lines of one deployment, as ostree prints them (without colour: grove's output is never a terminal's). */
export function describeDeployment(root: string, d: Deployment, marks: { booted: boolean; pending: boolean; rollback: boolean }): string {
  const suffix = d.staged ? ' (staged)' : marks.pending ? ' (pending)' : marks.rollback ? ' (rollback)' : '';
  let out = `${marks.booted ? '*' : ' '} ${d.osname} ${d.checksum}.${d.deploySerial}${suffix}\n`;
  const version = commitMetaString(root, d.checksum, 'version');
  if (version !== undefined) out += `    Version: ${version}\n`;
  if (d.unlocked !== 'none') out += `    Unlocked: ${d.unlocked}\n`;
  if (isPinned(d)) out += '    Pinned: yes\n';
  if (d.origin === null) out += '    origin: none\n';
  else {
    const refspec = d.origin.get('origin', 'refspec');
    out += refspec === undefined ? '    origin: <unknown origin type>\n' : `    origin refspec: ${refspec}\n`;
    const title = commitMetaString(root, d.checksum, 'ostree.source-title');
    if (title !== undefined) out += `    \`- ${title}\n`;
  }
  return out;
}

function originRemote(d: Deployment): string | null {
  const refspec = d.origin?.get('origin', 'refspec');
  if (refspec === undefined) return null;
  try {
    return parseRefspec(refspec).remote;
  } catch {
    return null;
  }
}

/** The sysroot repository's commit object, or null when it is not there. */
function readCommit(root: string, checksum: string): Buffer | null {
  try {
    return fs.readFileSync(objectPath(path.join(root, 'ostree/repo/objects'), checksum, 'commit', 'bare'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** gpgme's account of each GPG signature of the commit, as ostree's verifier for `remote` sees it. */
async function gpgResults(root: string, remote: string, commit: Uint8Array, sigs: Uint8Array[]): Promise<GpgSignatureInfo[]> {
  const [{ Repo }, { getRemote }, { remoteGpgKeySources }, { gpgVerifyResult }] = await Promise.all([
    import('../repo/repo.js'), import('../net/remotes.js'), import('../net/remote-keys.js'), import('../sign/gpg-verify-result.js'),
  ]);
  const repo = await Repo.open(path.join(root, 'ostree/repo'));
  return gpgVerifyResult(commit, sigs, remoteGpgKeySources(repo, getRemote(repo, remote), true));
}

/**
 * What status prints of a deployment's signatures without --verify: when its origin's remote
 * verifies GPG signatures, the commit must carry some (ostree's error otherwise), and each is
 * described, good or not, after `    GPG: `. ostree 2022.7 checks them with the keys of the
 * remote named like the deployment's stateroot, not of the origin's remote (it passes the
 * osname to ostree_repo_verify_commit_for_remote); with no such remote it prints nothing. So
 * does grove: a distribution's stateroot and remote usually share the name.
 */
async function signatureLines(root: string, config: KeyFile, d: Deployment): Promise<string> {
  const remote = originRemote(d);
  if (remote === null || remoteGpgVerify(config, remote) !== true) return '';
  const commit = readCommit(root, d.checksum);
  if (commit === null) return '';
  const sigs = signaturesOf(readDetached(root, d.checksum), GPG_KEY);
  if (sigs.length === 0) throw new GroveError('GROVE_BAD_SIGNATURE', GPG_NONE);
  if (remoteGpgVerify(config, d.osname) === null) return '';
  const { describeSignature } = await import('../sign/gpg-verify-result.js');
  return (await gpgResults(root, d.osname, commit, sigs)).map((r) => describeSignature(r, '    GPG: ')).join('');
}

/**
 * `--verify`: ostree's checks, in its order, of the deployment's commit against its origin's
 * remote (ostree_repo_signature_verify_commit_data), then the account of its GPG signatures, of
 * which one must be good, and by the sign API (`sign-verify`: ed25519, or ostree's dummy test
 * engine) of which one must verify; each success is one line.
 */
async function verify(root: string, config: KeyFile, d: Deployment): Promise<string> {
  const commit = readCommit(root, d.checksum);
  if (commit === null) throw new GroveError('GROVE_NO_COMMIT', 'Cannot verify, failed to load commit');
  if (d.origin === null) throw new GroveError('GROVE_NO_ORIGIN', 'Cannot verify deployment with no origin');
  const refspec = d.origin.get('origin', 'refspec');
  if (refspec === undefined) throw new GroveError('GROVE_NO_ORIGIN', 'No origin/refspec, cannot verify');
  const remote = parseRefspec(refspec).remote;
  if (remote === null) throw new GroveError('GROVE_NO_ORIGIN', 'Cannot verify deployment without remote');
  const detached = readDetached(root, d.checksum);
  if (detached === null) throw new GroveError('GROVE_BAD_SIGNATURE', "Can't verify commit without detached metadata");
  const gpg = remoteGpgVerify(config, remote);
  if (gpg === null) throw new GroveError('GROVE_NO_REMOTE', `Remote "${remote}" not found`);
  const { remoteVerifiers, verifyWith } = await import('../sign/remote-verifiers.js');
  const signapi = remoteVerifiers(config, remote);
  if (!gpg && !signapi) {
    throw new GroveError('GROVE_BAD_SIGNATURE', `Cannot verify commit for remote ${remote}; GPG verification disabled, and no signapi verifiers configured`);
  }
  let text = '';
  if (gpg) {
    const sigs = signaturesOf(detached, GPG_KEY);
    if (sigs.length === 0) throw new GroveError('GROVE_BAD_SIGNATURE', GPG_NONE);
    const { describeSignature, requireValidGpg } = await import('../sign/gpg-verify-result.js');
    const results = await gpgResults(root, remote, commit, sigs);
    requireValidGpg(results);
    text = results.map((r) => describeSignature(r, 'GPG: ')).join('');
  }
  if (signapi) {
    let message: string;
    try {
      message = verifyWith(signapi, commit, detached);
    } catch (e) {
      if (e instanceof GroveError) throw new GroveError(e.code, `Can't verify commit: ${e.message}`, { cause: e });
      throw e;
    }
    text += `${text === '' ? '' : '\n'}${message}`;
  }
  return text;
}

/**
 * Writes `ostree admin status` to `write` as it goes, so that when a check fails (ostree's
 * error and exit status) what ostree prints before it has been printed too.
 */
export async function writeStatus(state: SysrootState, opts: { verify?: boolean }, write: (s: string) => void): Promise<void> {
  if (state.deployments.length === 0) {
    write('No deployments.\n');
    return;
  }
  const config = repoConfig(state.root);
  const { pending, rollback } = pendingAndRollback(state);
  for (const d of state.deployments) {
    write(describeDeployment(state.root, d, { booted: d === state.booted, pending: d === pending, rollback: d === rollback }));
    if (opts.verify) write(`${await verify(state.root, config, d)}\n`);
    else write(await signatureLines(state.root, config, d));
  }
}

/** The whole of `ostree admin status` as text (the library's form; the signature checks throw). */
export async function describeStatus(state: SysrootState): Promise<string> {
  let out = '';
  await writeStatus(state, {}, (s) => { out += s; });
  return out;
}
