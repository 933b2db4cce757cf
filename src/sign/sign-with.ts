/**
 * The keys a commit or summary is signed with, by kind. Its own small module: what only asks
 * whether anything is to be signed need not load the signing code.
 */
export interface SignWith {
  /** base64 ed25519 secret keys. */
  ed25519?: string[];
  /** Keys of ostree's test engine (src/sign/engines.ts), which needs OSTREE_DUMMY_SIGN_ENABLED=1. */
  dummy?: string[];
  /** GPG key ids, with the homedir holding them. */
  gpg?: string[];
  gpgHomedir?: string;
}

/** Whether `keys` names any key to sign with. */
export function signsAnything(keys: SignWith | undefined): boolean {
  return keys !== undefined && (keys.ed25519?.length ?? 0) + (keys.dummy?.length ?? 0) + (keys.gpg?.length ?? 0) > 0;
}
