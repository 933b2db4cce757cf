import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { Variant } from '../../format/objects.js';
import { readSkipList, readStatOverride } from '../../commit/filters.js';
import { validateChecksum } from '../../format/checksum.js';
import { collect, parseKeyValue, parseTimestamp, parseUint } from '../parse.js';
import { openRepo, withRepo } from '../repo-option.js';
import { ProgressLine, describeCommitProgress } from '../progress.js';

interface Opts {
  repo?: string;
  branch?: string;
  subject?: string;
  body?: string;
  tree?: string[];
  parent?: string;
  orphan?: boolean;
  timestamp?: bigint;
  ownerUid?: number;
  ownerGid?: number;
  canonicalPermissions?: boolean;
  xattrs?: boolean;
  addMetadataString?: Array<[string, string]>;
  bindings?: boolean;
  skipIfUnchanged?: boolean;
  consume?: boolean;
  statoverride?: string;
  skipList?: string;
  tableOutput?: boolean;
  json?: boolean;
  addMetadata?: Array<[string, string]>;
  sign?: string[];
  signType: string;
  gpgSign?: string[];
  gpgHomedir?: string;
}

export function registerCommit(program: Command): void {
  withRepo(program.command('commit'))
    .description('commit a directory tree to a branch')
    .argument('[path]', 'directory to commit (or use --tree=dir=PATH)')
    .option('-b, --branch <ref>', 'branch to move to the new commit')
    .option('-s, --subject <subject>', 'one-line subject')
    .option('-m, --body <body>', 'full description')
    .option('--tree <spec>', 'dir=PATH: the directory to commit', collect)
    .option('--parent <checksum>', "parent commit checksum, or 'none'")
    .option('--orphan', 'create a commit without writing a ref')
    .option('--timestamp <time>', 'commit time: @SECONDS or ISO 8601 (default: now)', parseTimestamp)
    .option('--owner-uid <uid>', 'set the owner of every file to UID', parseUint('--owner-uid'))
    .option('--owner-gid <gid>', 'set the group of every file to GID', parseUint('--owner-gid'))
    .option('--canonical-permissions', 'owners 0:0 and permissions masked to 0755, no xattrs')
    .option('--no-xattrs', 'do not store extended attributes')
    .option('--add-metadata-string <key=value>', 'add a string to the commit metadata (repeatable)', parseKeyValue('--add-metadata-string'))
    .option('--add-metadata <key=value>', 'add commit metadata, VALUE in GVariant text format (repeatable)', parseKeyValue('--add-metadata'))
    .option('--sign <key>', 'sign the commit with this secret key (base64 for ed25519; repeatable)', collect)
    .option('--sign-type <type>', 'signature type for --sign', 'ed25519')
    .option('--gpg-sign <keyid>', 'sign the commit with this GPG key (repeatable)', collect)
    .option('--gpg-homedir <dir>', 'GPG home directory holding the --gpg-sign keys')
    .option('--no-bindings', 'do not record the ref binding (ostree.ref-binding)')
    .option('--skip-if-unchanged', 'if the tree equals the parent commit\'s, make no commit')
    .option('--consume', 'delete the source tree after a successful commit')
    .option('--statoverride <file>', 'file of "MODE PATH" (add bits) or "=MODE PATH" (set) lines')
    .option('--skip-list <file>', 'file of paths to leave out, one per line')
    .option('--table-output', 'print a table of statistics, as ostree does')
    .option('--json', 'print the result as JSON')
    .action(async (pathArg: string | undefined, opts: Opts) => {
      const repo = await openRepo(opts);
      const tree = resolveTree(pathArg, opts.tree);
      let parent: string | null | undefined;
      if (opts.parent !== undefined) parent = opts.parent === 'none' ? null : validateChecksum(opts.parent, '--parent');
      // ostree adds the strings first, then the typed values.
      const metadata: Array<[string, Variant]> = [
        ...(opts.addMetadataString ?? []).map(([k, v]): [string, Variant] => [k, new Variant('s', v)]),
        ...(opts.addMetadata?.length ? await parsedVariants(opts.addMetadata) : []),
      ];
      if (opts.sign && opts.signType !== 'ed25519') throw new GroveError('GROVE_BAD_OPTION', `--sign-type: unknown signature type '${opts.signType}' (grove knows ed25519)`);
      const { commitTree } = await import('../../commit/commit.js');
      const progress = new ProgressLine(opts.json ? false : undefined);
      const res = await commitTree(repo, {
        onProgress: (p) => progress.show(() => describeCommitProgress(p, progress.seconds)),
        tree,
        ...(opts.branch !== undefined && { branch: opts.branch }),
        ...(opts.orphan && { orphan: true }),
        ...(parent !== undefined && { parent }),
        ...(opts.subject !== undefined && { subject: opts.subject }),
        ...(opts.body !== undefined && { body: opts.body }),
        ...(opts.timestamp !== undefined && { timestamp: opts.timestamp }),
        ...(opts.ownerUid !== undefined && { ownerUid: opts.ownerUid }),
        ...(opts.ownerGid !== undefined && { ownerGid: opts.ownerGid }),
        canonicalPermissions: opts.canonicalPermissions === true,
        noXattrs: opts.xattrs === false,
        metadata,
        noBindings: opts.bindings === false,
        skipIfUnchanged: opts.skipIfUnchanged === true,
        consume: opts.consume === true,
        ...(opts.statoverride !== undefined && { statOverride: await readStatOverride(opts.statoverride) }),
        ...(opts.skipList !== undefined && { skipList: await readSkipList(opts.skipList) }),
        sign: { ed25519: opts.sign ?? [], gpg: opts.gpgSign ?? [], ...(opts.gpgHomedir !== undefined && { gpgHomedir: opts.gpgHomedir }) },
      });
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

/** `--add-metadata` values, through the GVariant text parser (loaded only when needed). */
async function parsedVariants(kv: Array<[string, string]>): Promise<Array<[string, Variant]>> {
  const { parseVariantText } = await import('../../format/gvariant.js');
  return kv.map(([k, v]) => [k, parseVariantText(v)]);
}

function resolveTree(pathArg: string | undefined, trees: string[] | undefined): string {
  const specs = trees ?? [];
  if (specs.length > 1) throw new GroveError('GROVE_BAD_OPTION', '--tree: only one tree can be committed at a time');
  if (specs.length === 1) {
    const spec = specs[0]!;
    if (!spec.startsWith('dir=')) throw new GroveError('GROVE_BAD_OPTION', `--tree: unsupported '${spec}' (only dir=PATH is supported)`);
    if (pathArg !== undefined) throw new GroveError('GROVE_BAD_OPTION', 'give either PATH or --tree, not both');
    return spec.slice(4);
  }
  return pathArg ?? '.';
}
