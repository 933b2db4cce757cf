import type { Commit } from '../format/objects.js';
import { commitMetaValue } from '../format/objects.js';
import { sha256 } from '../format/hash.js';
import { fromHex, toHex } from '../format/checksum.js';

/** SHA-256 of the root dirtree and dirmeta checksums: what `ostree show` calls ContentChecksum. */
export function contentChecksum(c: Commit): string {
  const buf = new Uint8Array(64);
  buf.set(fromHex(c.rootTree));
  buf.set(fromHex(c.rootMeta), 32);
  return toHex(sha256(buf));
}

/** `YYYY-MM-DD HH:MM:SS +0000`, as ostree prints commit dates. */
export function formatCommitDate(ts: bigint): string {
  const d = new Date(Number(ts) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function indented(text: string): string {
  let out = '';
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const last = i === lines.length - 1;
    if (last && line === '') return;
    out += `    ${line}\n`;
  });
  return out;
}

/** The text `ostree show` and `ostree log` print for one commit, byte for byte as 2022.7. */
export function describeCommit(checksum: string, c: Commit): string {
  return `commit ${checksum}\n${describeCommitBody(c)}`;
}

/** {@link describeCommit} without its `commit CHECKSUM` line. */
export function describeCommitBody(c: Commit): string {
  let out = '';
  if (c.parent !== null) out += `Parent:  ${c.parent}\n`;
  out += `ContentChecksum:  ${contentChecksum(c)}\n`;
  out += `Date:  ${formatCommitDate(c.timestamp)}\n`;
  const version = commitMetaValue(c, 'version');
  if (version && version.type === 's') out += `Version: ${version.value as string}\n`;
  if (c.subject !== '') out += `\n${indented(c.subject)}`;
  else out += '(no subject)\n';
  if (c.body !== '') out += `\n${indented(c.body)}`;
  out += '\n';
  return out;
}
