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
 * - `libarchive`: tar in and out, `commit --tree=tar=` (with `--tar-autocreate-parents` and
 *   `--tar-pathname-filter`) and `export` (GNU tar as libarchive writes it); grove reads and
 *   writes tar itself (src/commit/tar.ts, src/export/gnu-tar.ts say why).
 * - `p2p`: collection IDs (`init --collection-id`, collection refs, `summary` with them),
 *   `create-usb` and `find-remotes` with `--pull`; ostree 2022.7 lists it unconditionally.
 *
 * Left out, because grove lacks them: `libcurl`, `libsoup` (grove has its own HTTP/1.1 client;
 * scripts read these names as "libostree was built with that library", e.g. for
 * `trivial-httpd`), `no-http2` (a libcurl build detail), `ex-fsverity` (no fs-verity),
 * `selinux` (no relabelling), `avahi` (no LAN finder for `find-remotes`), `libmount`,
 * `systemd` (libsystemd: grove writes nothing to the journal; `admin finalize-staged` works,
 * run by ostree's units), `openssl`/`gnutls` (crypto backends of libostree's own build) and
 * `release`/`devel` (a mark of libostree's build type). The order is ostree's.
 */
export const FEATURES: readonly string[] = ['gpgme', 'sign-ed25519', 'libarchive', 'p2p'];

/** grove's version, from its package.json. */
export function groveVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function versionText(): string {
  return `grove:\n Version: '${groveVersion()}'\n Features:\n${FEATURES.map((f) => `  - ${f}\n`).join('')}`;
}
