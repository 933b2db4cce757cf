import fs from 'node:fs';
import { packageFile } from '../package-files.js';

/**
 * `--version`, in the layout `ostree --version` uses (a YAML mapping: package, ` Version: 'X'`,
 * ` Features:`, `  - NAME`), with grove's own name and version. Scripts grep the feature lines
 * to decide what to run, so a name is listed only when grove has what ostree means by it:
 *
 * - `gpgme`: GPG signing (`gpg-sign`, `commit --gpg-sign`, `summary --gpg-sign`) and
 *   verification on pull (`remote gpg-import`, `gpg-verify`, `gpg-verify-summary`). grove runs
 *   the system's gpg and gpgv instead of linking gpgme; the signatures are the same bytes.
 * - `sign-ed25519`: `sign`, `commit --sign`, `sign-verify` on remotes (upstream's format).
 *
 * Left out, because grove lacks them: `libcurl`, `libsoup` (grove has its own HTTP/1.1 client;
 * scripts read these names as "libostree was built with that library", e.g. for
 * `trivial-httpd`), `no-http2` (a libcurl build detail), `ex-fsverity` (no fs-verity),
 * `libarchive` (no `commit --tree=tar=`, no `export`), `selinux` (no relabelling), `avahi` and
 * `p2p` (collection IDs in commits, refs and summaries, but no `create-usb`, no
 * `find-remotes`, no pulls by collection ref, no LAN or USB peers), `libmount`, `systemd` (no finalize-staged,
 * no journal), `openssl`/`gnutls` (crypto backends of libostree's own build) and
 * `release`/`devel` (a mark of libostree's build type).
 */
export const FEATURES: readonly string[] = ['gpgme', 'sign-ed25519'];

/** grove's version, from its package.json. */
export function groveVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function versionText(): string {
  return `grove:\n Version: '${groveVersion()}'\n Features:\n${FEATURES.map((f) => `  - ${f}\n`).join('')}`;
}
