import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { programName, verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';
import { collect } from '../parse.js';
import type { SignEngine } from '../../sign/engines.js';

interface GenerateOpts {
  repo?: string; from?: string; to?: string; empty?: boolean; inline?: boolean; disableBsdiff?: boolean; ifNotExists?: boolean;
  setEndianness?: string; swapEndianness?: boolean; minFallbackSize?: string; maxBsdiffSize?: string; maxChunkSize?: string; filename?: string;
  sign?: string[]; signType: string;
}

/** ostree's own usage of the family: its sub-verbs, names padded to 17, and no options. */
function familyUsage(cmd: Command): string {
  const lines = cmd.commands.map((c) => `  ${c.name().padEnd(17)}${c.description()}\n`).join('');
  return `Usage:\n  ${programName()} static-delta [OPTION...] COMMAND\n\nBuiltin "static-delta" Commands:\n${lines}\n`;
}

/** ostree checks DELTA and PATH after opening the repository, with a plain error (no usage). */
function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new GroveError('GROVE_USAGE', `${name} must be specified`);
  return value;
}

/**
 * `static-delta list|show|delete|generate|apply-offline|verify|reindex|indexes`, with ostree
 * 2022.7's descriptions (its family usage lists them). Signatures are ostree's engines
 * (src/sign/engines.ts): ed25519, which Debian's ostree lacks, and ostree's test engine `dummy`.
 */
export function registerStaticDelta(program: Command): void {
  const family = verb(program.command('static-delta').description('Static delta related commands'), { familyUsage: { text: familyUsage, noCommand: 'No command specified' } });

  withRepo(family.command('list'))
    .description('List static delta files')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { listStaticDeltas } = await import('../../repo/static-deltas.js');
      const { deltaId } = await import('../../delta/names.js');
      const deltas = listStaticDeltas(repo);
      process.stdout.write(deltas.length === 0 ? '(No static deltas)\n' : deltas.map((d) => `${deltaId(d)}\n`).join(''));
    });

  verb(withRepo(family.command('show')), { params: '' })
    .description('Dump information on a delta')
    .argument('[delta]')
    .action(async (delta: string | undefined, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const id = required(delta, 'DELTA');
      const { showDelta } = await import('../../delta/show.js');
      await showDelta(repo.path, id, (line) => process.stdout.write(line));
    });

  verb(withRepo(family.command('delete')), { params: '' })
    .description('Remove a delta')
    .argument('[delta]')
    .action(async (delta: string | undefined, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const id = required(delta, 'DELTA');
      const { deleteDelta } = await import('../../delta/delete.js');
      await deleteDelta(repo, id);
    });

  verb(withRepo(family.command('generate')), { params: '[TO]' })
    .description('Generate static delta files')
    .argument('[to]')
    .option('--from <rev>', 'Create delta from revision REV')
    .option('--empty', 'Create delta from scratch')
    .option('--inline', 'Inline delta parts into main delta')
    .option('--to <rev>', 'Create delta to revision REV')
    .option('--disable-bsdiff', 'Disable use of bsdiff')
    .option('-n, --if-not-exists', 'Only generate if a delta does not already exist')
    .option('--set-endianness <endian>', "Choose metadata endianness ('l' or 'B'; grove writes 'l' only)")
    .option('--swap-endianness', 'Swap metadata endianness from host order (refused: grove writes little-endian deltas only)')
    .option('--min-fallback-size <mb>', 'Minimum uncompressed size in megabytes for individual HTTP request')
    .option('--max-bsdiff-size <mb>', 'Maximum size in megabytes to consider bsdiff compression for input files')
    .option('--max-chunk-size <mb>', 'Maximum size of delta chunks in megabytes')
    .option('--filename <path>', 'Write the delta content to PATH (a directory).  If not specified, the OSTree repository is used')
    .option('--sign <key>', 'Sign the delta with', collect)
    .option('--sign-type <name>', "Signature type to use (defaults to 'ed25519')", 'ed25519')
    .action(async (toArg: string | undefined, opts: GenerateOpts) => {
      const repo = await openRepo(opts);
      const to = opts.to ?? toArg;
      if (to === undefined) throw new GroveError('GROVE_USAGE', 'TO revision must be specified');
      if (opts.empty && opts.from !== undefined) throw new GroveError('GROVE_BAD_OPTION', 'Cannot specify both --empty and --from=REV');
      const fromRev = opts.empty ? null : opts.from ?? `${to}^`;
      const from = fromRev === null ? null : (await repo.resolveRev(fromRev))!;
      const toResolved = (await repo.resolveRev(to))!;
      const { deltaId, deltaRelDir } = await import('../../delta/names.js');
      const name = { from, to: toResolved };
      if (opts.ifNotExists && fs.existsSync(path.join(repo.path, deltaRelDir(name), 'superblock'))) {
        process.stdout.write(`Delta ${deltaId(name)} already exists.\n`);
        return;
      }
      const endian = opts.setEndianness;
      if (endian !== undefined && endian !== 'l' && endian !== 'B') throw new GroveError('GROVE_BAD_OPTION', `Invalid endianness '${endian}'`);
      if (endian === 'B' || opts.swapEndianness) throw new GroveError('GROVE_UNSUPPORTED', 'grove writes little-endian deltas only (--set-endianness=B, --swap-endianness)');
      const mb = (v: string | undefined) => (v === undefined ? undefined : Number.parseInt(v, 10) * 1_000_000 || 0);
      process.stdout.write(`Generating static delta:\n  From: ${from ?? 'empty'}\n  To:   ${toResolved}\n`);
      const { generateDelta } = await import('../../delta/generate.js');
      await generateDelta(repo, name, {
        ...(opts.minFallbackSize !== undefined && { minFallbackSize: mb(opts.minFallbackSize)! }),
        ...(opts.maxChunkSize !== undefined && { maxChunkSize: mb(opts.maxChunkSize)! }),
        ...(opts.maxBsdiffSize !== undefined && { maxBsdiffSize: mb(opts.maxBsdiffSize)! }),
        disableBsdiff: opts.disableBsdiff === true,
        inline: opts.inline === true,
        ...(opts.filename !== undefined && { filename: opts.filename }),
        ...(opts.sign !== undefined && { sign: { engine: (await import('../../sign/engines.js')).signEngine(opts.signType), keys: opts.sign } }),
        log: (line) => process.stderr.write(`${line}\n`),
      });
    });

  verb(withRepo(family.command('apply-offline')), { params: '' })
    .description('Apply static delta file')
    .argument('[path]')
    .argument('[keys...]')
    .option('--sign-type <name>', "Signature type to use (defaults to 'ed25519')")
    .action(async (given: string | undefined, keys: string[], opts: { repo?: string; signType?: string }) => {
      const repo = await openRepo(opts);
      const location = required(given, 'PATH');
      const [{ applyOffline }, { signEngine }] = await Promise.all([import('../../delta/apply-offline.js'), import('../../sign/engines.js')]);
      // As ostree built with ed25519: that engine unless --sign-type names another; with no
      // keys given and none installed, a signed delta is applied unchecked (unless the
      // repository's core.sign-verify-deltas requires a check).
      let engine: SignEngine | null = signEngine(opts.signType ?? 'ed25519');
      for (const k of keys) engine.checkPublicKey(k);
      if (keys.length === 0 && engine.defaultKeysMissing() !== null) engine = null;
      const mandatory = repo.config.getBoolean('core', 'sign-verify-deltas') ?? false;
      await applyOffline(repo, location, { signatures: { engine, keys: keys.length > 0 ? keys : null, required: mandatory } });
    });

  verb(withRepo(family.command('verify')), { params: 'STATIC-DELTA-FILE [KEY-ID...]' })
    .description('Verify static delta signatures')
    .argument('[delta]')
    .argument('[keys...]')
    .option('--sign-type <name>', "Signature type to use (defaults to 'ed25519')", 'ed25519')
    .action(async (delta: string | undefined, keys: string[], opts: { repo?: string; signType: string }) => {
      const repo = await openRepo(opts);
      const id = required(delta, 'DELTA');
      const [{ verifyDelta }, { signEngine }] = await Promise.all([import('../../delta/verify.js'), import('../../sign/engines.js')]);
      let engine: SignEngine;
      try {
        engine = signEngine(opts.signType);
      } catch (e) {
        process.stdout.write('Sign-type not supported\n');
        throw e;
      }
      for (const k of keys) engine.checkPublicKey(k);
      // ostree loads the engine's default keys when none are given, and stops if it has none.
      const missing = keys.length === 0 ? engine.defaultKeysMissing() : null;
      if (missing !== null) throw new GroveError('GROVE_BAD_SIGNATURE', missing);
      try {
        verifyDelta(repo, id, engine, keys.length > 0 ? keys : null);
      } catch (e) {
        process.stdout.write('Verification fails\n');
        throw e;
      }
      process.stdout.write('Verification OK\n');
    });

  withRepo(family.command('reindex'))
    .description('Regenerate static delta indexes')
    .option('--to <rev>', 'Only update delta index to revision REV')
    .action(async (opts: { repo?: string; to?: string }) => {
      const repo = await openRepo(opts);
      const { reindexDeltas } = await import('../../delta/reindex.js');
      const { RepoLock } = await import('../../repo/lock.js');
      const { parseDeltaId } = await import('../../delta/names.js');
      // ostree takes --to as a checksum, unresolved.
      if (opts.to !== undefined) parseDeltaId(opts.to);
      await RepoLock.with(repo, 'shared', () => reindexDeltas(repo, opts.to));
    });

  withRepo(family.command('indexes'))
    .description('List static delta indexes')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { listDeltaIndexes } = await import('../../delta/indexes.js');
      const indexes = listDeltaIndexes(repo.path);
      process.stdout.write(indexes.length === 0 ? '(No static deltas indexes)\n' : indexes.map((c) => `${c}\n`).join(''));
    });
}
