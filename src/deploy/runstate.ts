import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { decode, encode, Variant } from '../format/gvariant.js';
import type { KeyFile } from '../format/keyfile.js';

/**
 * What a running ostree system keeps in /run (fixed paths, as in libostree): the flag that says
 * the machine booted an ostree deployment, the staged deployment waiting for shutdown, the
 * overlay initrds staged for a deploy, and the per-deployment unlock flags of development and
 * transient unlocks (a hotfix unlock survives reboots, so it lives in the origin file instead).
 */
export const RUN_OSTREE_BOOTED = '/run/ostree-booted';
export const RUN_STAGED = '/run/ostree/staged-deployment';
export const RUN_STAGED_LOCKED = '/run/ostree/staged-deployment-locked';
export const RUN_STAGED_INITRDS = '/run/ostree/staged-initrds';
const RUN_DEPLOYMENT_STATE = '/run/ostree/deployment-state';

export type UnlockedState = 'none' | 'hotfix' | 'development' | 'transient';

/** The file whose presence marks a deployment unlocked for development or transiently until reboot. */
export function unlockFlagPath(checksum: string, serial: number, state: 'development' | 'transient'): string {
  return path.join(RUN_DEPLOYMENT_STATE, `${checksum}.${serial}`, `unlocked-${state}`);
}

/** A deployment's unlocked state as ostree reads it: the /run flags first, then `unlocked=hotfix` in its origin. */
export function unlockedState(checksum: string, serial: number, origin: KeyFile | null): UnlockedState {
  for (const s of ['development', 'transient'] as const) {
    try {
      fs.lstatSync(unlockFlagPath(checksum, serial, s));
      return s;
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'ENOTDIR')) throw e;
    }
  }
  return origin?.get('origin', 'unlocked') === 'hotfix' ? 'hotfix' : 'none';
}

/**
 * Whether the machine runs an ostree deployment and `root` is its sysroot: ostree decides it
 * from /run/ostree-booted and `root` being `/` itself (same device and inode). Only then is
 * there a booted deployment, a staged one, or anything to unlock.
 */
export function rootIsOstreeBooted(root: string): boolean {
  if (!fs.existsSync(RUN_OSTREE_BOOTED)) return false;
  const a = fs.statSync('/');
  const b = fs.statSync(root);
  return a.dev === b.dev && a.ino === b.ino;
}

/** A deployment as the staged state names it: `CHECKSUM.SERIAL`, its stateroot and boot checksum. */
export interface DeploymentRef { checksum: string; serial: number; osname: string; bootChecksum: string }

export interface StagedState {
  target: DeploymentRef;
  merge: DeploymentRef | null;
  /** The kernel arguments to finalize with; null to take the merge deployment's. */
  kargs: string[] | null;
  overlayInitrds: string[] | null;
}

const refVariant = (d: DeploymentRef): Variant => new Variant('a{sv}', [
  ['name', new Variant('s', `${d.checksum}.${d.serial}`)],
  ['osname', new Variant('s', d.osname)],
  ['bootcsum', new Variant('s', d.bootChecksum)],
]);

/** The staged state in ostree's format: an `a{sv}` with `target`, `merge-deployment`, `kargs`, `overlay-initrds`. */
export function encodeStaged(s: StagedState): Uint8Array {
  const dict: Array<[string, Variant]> = [['target', refVariant(s.target)]];
  if (s.merge) dict.push(['merge-deployment', refVariant(s.merge)]);
  if (s.kargs) dict.push(['kargs', new Variant('as', s.kargs)]);
  if (s.overlayInitrds) dict.push(['overlay-initrds', new Variant('as', s.overlayInitrds)]);
  return encode('a{sv}', dict);
}

function refOf(v: Variant | undefined, what: string): DeploymentRef | null {
  if (v === undefined) return null;
  if (v.type !== 'a{sv}') throw new GroveError('GROVE_BAD_SYSROOT', `Loading staged deployment: ${what} is not a dictionary`);
  const get = (k: string) => {
    const e = (v.value as Array<[string, Variant]>).find(([n]) => n === k)?.[1];
    if (e?.type !== 's') throw new GroveError('GROVE_BAD_SYSROOT', `Loading staged deployment: ${what} has no ${k}`);
    return e.value as string;
  };
  const m = /^([0-9a-f]{64})\.(\d+)$/.exec(get('name'));
  if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `Loading staged deployment: invalid deployment name '${get('name')}'`);
  return { checksum: m[1]!, serial: Number(m[2]), osname: get('osname'), bootChecksum: get('bootcsum') };
}

export function decodeStaged(bytes: Uint8Array): StagedState | null {
  const dict = decode('a{sv}', bytes) as Array<[string, Variant]>;
  const get = (k: string) => dict.find(([n]) => n === k)?.[1];
  const target = refOf(get('target'), 'target');
  if (!target) return null;
  const strv = (k: string) => {
    const v = get(k);
    return v?.type === 'as' ? (v.value as string[]) : null;
  };
  return { target, merge: refOf(get('merge-deployment'), 'merge-deployment'), kargs: strv('kargs'), overlayInitrds: strv('overlay-initrds') };
}

/** The staged deployment's state, or null when none is staged. */
export function readStaged(file = RUN_STAGED): StagedState | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
  return decodeStaged(bytes);
}
