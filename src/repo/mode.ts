import { GroveError } from '../errors.js';

/**
 * Repository modes. `archive-z2` is the name ostree writes into `config` for archive; both
 * spellings are accepted on input.
 */
export type RepoMode = 'archive' | 'bare' | 'bare-user' | 'bare-user-only';
export const REPO_MODES: readonly RepoMode[] = ['archive', 'bare', 'bare-user', 'bare-user-only'];

export function parseRepoMode(s: string, what = 'mode'): RepoMode {
  if (s === 'archive-z2' || s === 'archive') return 'archive';
  if ((REPO_MODES as readonly string[]).includes(s)) return s as RepoMode;
  throw new GroveError('GROVE_BAD_MODE', `invalid ${what} '${s}'`, {
    hint: 'use one of archive, archive-z2, bare, bare-user, bare-user-only',
  });
}

/** The spelling ostree writes into `config`. */
export function configModeName(mode: RepoMode): string {
  return mode === 'archive' ? 'archive-z2' : mode;
}

export const isArchive = (mode: RepoMode): boolean => mode === 'archive';

/** Modes whose objects belong to the user who owns the repository (owner and mode kept aside). */
export const isUserMode = (mode: RepoMode): boolean => mode === 'bare-user' || mode === 'bare-user-only';
