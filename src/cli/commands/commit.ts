import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { GroveError, isErrno } from '../../errors.js';
import { Variant } from '../../format/objects.js';
import { readSkipList, readStatOverride } from '../../commit/filters.js';
import type { CommitOptions, TreeLayer } from '../../commit/commit.js';
import { validateChecksum } from '../../format/checksum.js';
import { collect, parseBoolean, parseGInt, parseTimestamp, signOptions } from '../parse.js';
import { openRepo, withRepo } from '../repo-option.js';
import { ProgressLine, describeCommitProgress } from '../progress.js';

interface Opts {
  repo?: string;
  branch?: string;
  subject?: string;
  body?: string;
  bodyFile?: string;
  editor?: boolean;
  tree?: string[];
  base?: string;
  parent?: string;
  orphan?: boolean;
  timestamp?: bigint;
  ownerUid?: number;
  ownerGid?: number;
  canonicalPermissions?: boolean;
  modeRoExecutables?: boolean;
  xattrs?: boolean;
  addMetadataString?: Array<[string, string]>;
  addMetadata?: Array<[string, string]>;
  keepMetadata?: string[];
  addDetachedMetadataString?: Array<[string, string]>;
  bindings?: boolean;
  bindRef?: string[];
  bootable?: boolean;
  generateSizes?: boolean;
  skipIfUnchanged?: boolean;
  consume?: boolean;
  statoverride?: string;
  skipList?: string;
  selinuxPolicy?: string;
  selinuxPolicyFromBase?: boolean;
  linkCheckoutSpeedup?: boolean;
  devinoCanonical?: boolean;
  tarAutocreateParents?: boolean;
  tarPathnameFilter?: string;
  fsync?: boolean;
  disableFsync?: boolean;
  tableOutput?: boolean;
  json?: boolean;
  sign?: string[];
  signType: string;
  gpgSign?: string[];
  gpgHomedir?: string;
}

export function registerCommit(program: Command): void {
  withRepo(program.command('commit'))
    .description('commit a directory tree to a branch')
    .argument('[path]', 'directory to commit (or use --tree)')
    .option('-b, --branch <ref>', 'branch to move to the new commit')
    .option('-s, --subject <subject>', 'one-line subject')
    .option('-m, --body <body>', 'full description')
    .option('-F, --body-file <file>', 'commit message body from FILE')
    .option('-e, --editor', 'write the commit message in an editor ($OSTREE_EDITOR, $VISUAL, $EDITOR)')
    .option('--tree <spec>', 'dir=PATH, tar=TARFILE (- for stdin) or ref=REV: a tree to lay over the previous ones (repeatable, in order)', collect)
    .option('--base <rev>', 'start from the tree of this commit (no modifiers apply to it)')
    .option('--parent <checksum>', "parent commit checksum, or 'none'")
    .option('--orphan', 'create a commit without writing a ref')
    .option('--timestamp <time>', 'commit time: @SECONDS or ISO 8601 (default: now)', parseTimestamp)
    .option('--owner-uid <uid>', 'set the owner of every file to UID (negative: keep each file\'s)', parseGInt('--owner-uid'))
    .option('--owner-gid <gid>', 'set the group of every file to GID (negative: keep each file\'s)', parseGInt('--owner-gid'))
    .option('--canonical-permissions', 'owners 0:0 and permissions masked to 0755, no xattrs')
    .option('--mode-ro-executables', 'make executable files not writable')
    .option('--no-xattrs', 'do not store extended attributes')
    .option('--selinux-policy <path>', 'label files with the SELinux policy of root filesystem PATH (grove refuses a policy that labels)')
    .option('-P, --selinux-policy-from-base', 'label files with the SELinux policy of the first --tree (or --base)')
    .option('--add-metadata-string <key=value>', 'add a string to the commit metadata (repeatable)', metadataKeyValue)
    .option('--add-metadata <key=value>', 'add commit metadata, VALUE in GVariant text format (repeatable)', metadataKeyValue)
    .option('--keep-metadata <key>', "keep this key of the parent commit's metadata (repeatable)", collect)
    .option('--add-detached-metadata-string <key=value>', 'add a string to the detached metadata (repeatable)', metadataKeyValue)
    .option('--bootable', 'flag the commit bootable: record ostree.bootable and ostree.linux (needs one kernel in /usr/lib/modules)')
    .option('--generate-sizes', 'record the size of every object written (ostree.sizes; archive repositories)')
    .option('--sign <key>', 'sign the commit with this secret key (base64 for ed25519; repeatable)', collect)
    .option('--sign-type <type>', 'signature type for --sign', 'ed25519')
    .option('--gpg-sign <keyid>', 'sign the commit with this GPG key (repeatable)', collect)
    .option('--gpg-homedir <dir>', 'GPG home directory holding the --gpg-sign keys')
    .option('--no-bindings', 'do not record the ref binding (ostree.ref-binding)')
    .option('--bind-ref <ref>', 'also bind the commit to this ref (repeatable)', collect)
    .option('--link-checkout-speedup', 'recognise files hardlinked from this repository by device and inode')
    .option('-I, --devino-canonical', 'take such hardlinks as the objects they are, unchanged (implies --link-checkout-speedup)')
    .option('--tar-autocreate-parents', 'create missing parent directories of tar entries')
    .option('--tar-pathname-filter <regex,replacement>', 'rewrite the path of each tar entry')
    .option('--skip-if-unchanged', 'if the tree equals the parent commit\'s, make no commit')
    .option('--consume', 'delete the source tree after a successful commit')
    .option('--statoverride <file>', 'file of "MODE PATH" (add bits) or "=MODE PATH" (set) lines')
    .option('--skip-list <file>', 'file of paths to leave out, one per line')
    .option('--fsync <policy>', 'false: do not wait for the disk', parseBoolean)
    .option('--disable-fsync', 'do not wait for the disk')
    .option('--table-output', 'print a table of statistics, as ostree does')
    .option('--json', 'print the result as JSON')
    .action(async (pathArg: string | undefined, opts: Opts) => {
      const repo = await openRepo(opts);
      // ostree reads the statoverride and skip-list files first, then checks the branch.
      const statOverride = opts.statoverride !== undefined ? await readStatOverride(opts.statoverride) : undefined;
      const skipList = opts.skipList !== undefined ? await readSkipList(opts.skipList) : undefined;
      if (!opts.branch && !opts.orphan) throw new GroveError('GROVE_BAD_OPTION', 'A branch must be specified with --branch, or use --orphan');
      let parent: string | null | undefined;
      if (opts.parent !== undefined) parent = opts.parent === 'none' ? null : validateChecksum(opts.parent, '--parent');
      // ostree adds the strings first, then the typed values (then the kept keys).
      const metadata: Array<[string, Variant]> = [
        ...(opts.addMetadataString ?? []).map(([k, v]): [string, Variant] => [k, new Variant('s', v)]),
        ...(opts.addMetadata?.length ? await parsedVariants(opts.addMetadata) : []),
      ];
      const detached = (opts.addDetachedMetadataString ?? []).map(([k, v]): [string, Variant] => [k, new Variant('s', v)]);
      if (opts.canonicalPermissions && (opts.ownerUid ?? 0) > 0) throw new GroveError('GROVE_BAD_OPTION', 'Cannot specify both --canonical-permissions and non-zero --owner-uid');
      if (opts.canonicalPermissions && (opts.ownerGid ?? 0) > 0) throw new GroveError('GROVE_BAD_OPTION', 'Cannot specify both --canonical-permissions and non-zero --owner-gid');
      if (opts.selinuxPolicy !== undefined && opts.selinuxPolicyFromBase) throw new GroveError('GROVE_BAD_OPTION', 'Cannot specify both --selinux-policy and --selinux-policy-from-base');
      const sign = signOptions(opts);
      const layers = treeLayers(pathArg, opts.tree);
      const selinux = await import('../../xattr/selinux.js');
      if (opts.selinuxPolicy !== undefined) selinux.refuseSelinuxPolicy(opts.selinuxPolicy, '--selinux-policy');
      let subject = opts.subject;
      let body = opts.body;
      if (opts.editor) {
        const { editCommitMessage } = await import('../editor.js');
        ({ subject, body } = editCommitMessage(opts.branch, opts.subject));
      } else if (opts.bodyFile !== undefined) {
        body = await readBodyFile(opts.bodyFile);
      }
      if (opts.selinuxPolicyFromBase) {
        const first = layers[0]!;
        if (opts.base !== undefined) await selinux.refuseCommitSelinuxPolicy(repo, opts.base, '--selinux-policy-from-base');
        else if (first.kind === 'dir') selinux.refuseSelinuxPolicy(first.path, '--selinux-policy-from-base');
        else if (first.kind === 'tar') throw new GroveError('GROVE_BAD_OPTION', 'Cannot use --selinux-policy-from-base with tar');
        else await selinux.refuseCommitSelinuxPolicy(repo, first.rev, '--selinux-policy-from-base');
      }
      const tarTranslate = opts.tarPathnameFilter !== undefined ? pathnameFilter(opts.tarPathnameFilter) : undefined;
      const { commitTree } = await import('../../commit/commit.js');
      const progress = new ProgressLine(opts.json ? false : undefined);
      const commitOpts: CommitOptions = {
        onProgress: (p) => progress.show(() => describeCommitProgress(p, progress.seconds)),
        layers,
        ...(opts.base !== undefined && { base: opts.base }),
        ...(opts.branch !== undefined && { branch: opts.branch }),
        ...(opts.orphan && { orphan: true }),
        ...(parent !== undefined && { parent }),
        ...(subject !== undefined && { subject }),
        ...(body !== undefined && { body }),
        ...(opts.timestamp !== undefined && { timestamp: opts.timestamp }),
        // A negative owner (ostree's default, -1) keeps each file's own.
        ...(opts.ownerUid !== undefined && opts.ownerUid >= 0 && { ownerUid: opts.ownerUid }),
        ...(opts.ownerGid !== undefined && opts.ownerGid >= 0 && { ownerGid: opts.ownerGid }),
        canonicalPermissions: opts.canonicalPermissions === true,
        roExecutables: opts.modeRoExecutables === true,
        noXattrs: opts.xattrs === false,
        metadata,
        ...(opts.keepMetadata && { keepMetadata: opts.keepMetadata }),
        detachedMetadata: detached,
        noBindings: opts.bindings === false,
        ...(opts.bindRef && { bindRefs: opts.bindRef }),
        bootable: opts.bootable === true,
        generateSizes: opts.generateSizes === true,
        fsync: !(opts.disableFsync || opts.fsync === false),
        linkCheckoutSpeedup: opts.linkCheckoutSpeedup === true || opts.devinoCanonical === true,
        devinoCanonical: opts.devinoCanonical === true,
        tarAutocreateParents: opts.tarAutocreateParents === true,
        ...(tarTranslate && { tarTranslate }),
        skipIfUnchanged: opts.skipIfUnchanged === true,
        consume: opts.consume === true,
        ...(statOverride !== undefined && { statOverride }),
        ...(skipList !== undefined && { skipList }),
        sign,
      };
      const res = await commitTree(repo, commitOpts);
      progress.done();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ checksum: res.checksum, skipped: res.skipped, ...res.stats })}\n`);
      } else if (opts.tableOutput) {
        process.stdout.write(`Commit: ${res.checksum}\nContent Total: ${res.stats.files}\nContent Written: ${res.stats.contentWritten}\nContent Bytes Written: ${res.stats.contentBytesWritten}\n`);
      } else {
        process.stdout.write(`${res.checksum}\n`);
      }
    });
}

/** `KEY=VALUE` of the metadata options (repeatable), refused in ostree's words. */
function metadataKeyValue(v: string, prev: Array<[string, string]> | undefined): Array<[string, string]> {
  const eq = v.indexOf('=');
  if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', `Missing '=' in KEY=VALUE metadata '${v}'`);
  if (eq === 0) throw new GroveError('GROVE_BAD_OPTION', `Empty key in KEY=VALUE metadata '${v}'`);
  return [...(prev ?? []), [v.slice(0, eq), v.slice(eq + 1)]];
}

/** `--add-metadata` values, through the GVariant text parser (loaded only when needed). */
async function parsedVariants(kv: Array<[string, string]>): Promise<Array<[string, Variant]>> {
  const { parseVariantText } = await import('../../format/gvariant/text.js');
  return kv.map(([k, v]) => [k, parseVariantText(v)]);
}

/**
 * The trees to commit, in order: each `--tree=TYPE=VALUE`, or else PATH (default `.`) as the
 * one directory. As in ostree, PATH is ignored when --tree is given.
 */
function treeLayers(pathArg: string | undefined, trees: string[] | undefined): TreeLayer[] {
  if (!trees || trees.length === 0) return [{ kind: 'dir', path: pathArg ?? '.' }];
  return trees.map((spec): TreeLayer => {
    const eq = spec.indexOf('=');
    if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', `Missing type in tree specification '${spec}'`);
    const type = spec.slice(0, eq);
    const value = spec.slice(eq + 1);
    if (type === 'dir') return { kind: 'dir', path: value };
    if (type === 'tar') return { kind: 'tar', path: value };
    if (type === 'ref') return { kind: 'ref', rev: value };
    throw new GroveError('GROVE_BAD_OPTION', `Invalid tree type specification '${type}'`);
  });
}

/** `-F FILE`: the body, which must be UTF-8 as ostree requires. */
async function readBodyFile(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    // ostree's words, which scripts may match.
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `openat(${file}): No such file or directory`, { path: file });
    throw e;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GroveError('GROVE_BAD_OPTION', `${file}: Invalid UTF-8`);
  }
}

/**
 * `--tar-pathname-filter=REGEX,REPLACEMENT`: GLib's g_regex_replace, every match replaced;
 * `\N` and `\g<N>` in the replacement name groups, `\\` is a backslash.
 */
function pathnameFilter(spec: string): (p: string) => string {
  const comma = spec.indexOf(',');
  if (comma < 0) throw new GroveError('GROVE_BAD_OPTION', "Missing ',' in --tar-pathname-filter");
  let re: RegExp;
  try {
    re = new RegExp(spec.slice(0, comma), 'g');
  } catch (e) {
    throw new GroveError('GROVE_BAD_OPTION', `--tar-pathname-filter: ${(e as Error).message}`);
  }
  const replacement = spec.slice(comma + 1).replace(/\$/g, '$$$$').replace(/\\(?:g<(\w+)>|(\d)|(\\))/g, (_m, named: string | undefined, digit: string | undefined, bs: string | undefined) => {
    if (bs !== undefined) return '\\';
    const g = named ?? digit!;
    if (g === '0') return '$&';
    return /^\d+$/.test(g) ? `$${g}` : `$<${g}>`;
  });
  return (p) => p.replace(re, replacement);
}
