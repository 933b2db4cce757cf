import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { openRepo, withRepo } from '../repo-option.js';
import { verb } from '../invocation.js';

interface ExportOpts { repo?: string; output?: string; subpath?: string; prefix?: string; xattrs?: boolean }

/**
 * Bytes gathered into large writes: an archive is mostly 512-byte headers and small files, and
 * a write per piece would cost a syscall (and, to a pipe, a stream callback) each.
 */
class BufferedSink {
  written = 0;
  private parts: Uint8Array[] = [];
  private size = 0;
  /** A write error (a full disk, a closed pipe): the stream reports it as an event. */
  private failed: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly out: Writable) {
    out.on('error', (e: Error) => {
      this.failed ??= e;
      this.wake?.();
    });
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.failed) throw this.failed;
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.size += bytes.length;
    this.written += bytes.length;
    if (this.size >= 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const buf = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    if (!this.out.write(buf)) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.out.once('drain', resolve);
      });
      this.wake = undefined;
    }
    if (this.failed) throw this.failed;
  }

  /** Ends a file stream: everything written and the file closed (or its error). */
  async end(): Promise<void> {
    if (this.failed) throw this.failed;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      this.out.end(resolve);
    });
    if (this.failed) throw this.failed;
  }
}

export function registerExport(program: Command): void {
  verb(withRepo(program.command('export')), { params: 'COMMIT' })
    .description('stream COMMIT to stdout in tar format (GNU tar, as ostree export)')
    .argument('[commit]', 'ref or commit checksum')
    .allowExcessArguments(true)
    .option('--no-xattrs', 'skip output of extended attributes (GNU tar holds none; accepted as ostree accepts it)')
    .option('--subpath <path>', 'export the sub-directory PATH')
    .option('--prefix <path>', 'add PATH as prefix to archive pathnames')
    .option('-o, --output <path>', 'output to PATH')
    .action(async (rev: string | undefined, opts: ExportOpts) => {
      if (rev === undefined) throw new GroveError('GROVE_BAD_OPTION', 'A COMMIT argument is required');
      const repo = await openRepo(opts);
      const { exportCommit, finishArchive } = await import('../../export/export.js');
      // As ostree: the output is opened (and a file created) before the commit is looked up,
      // and whatever fails after that still leaves a well-formed archive end behind it.
      // An empty --output is stdout, as libarchive takes it.
      const toFile = opts.output !== undefined && opts.output !== '';
      let out: Writable = process.stdout;
      let toRegularFile = false;
      if (toFile) {
        let fd: number;
        try {
          fd = fs.openSync(opts.output!, 'w', 0o666);
        } catch (e) {
          throw new GroveError('GROVE_OUTPUT', `Failed to open '${opts.output}'`, { cause: e });
        }
        toRegularFile = fs.fstatSync(fd).isFile();
        out = fs.createWriteStream('', { fd, autoClose: true });
      }
      const sink = new BufferedSink(out);
      let failure: { error: unknown } | undefined;
      try {
        const checksum = (await repo.resolveRev(rev))!;
        const commit = await repo.loadCommit(checksum);
        await exportCommit(repo, checksum, commit, sink, {
          ...(opts.subpath !== undefined && { subpath: opts.subpath }),
          ...(opts.prefix !== undefined && { prefix: opts.prefix }),
        });
      } catch (e) {
        failure = { error: e };
      }
      try {
        await sink.write(finishArchive(sink.written, toRegularFile));
        await sink.flush();
        if (toFile) await sink.end();
      } catch (e) {
        failure ??= { error: e };
      }
      if (failure) throw failure.error;
    });
}
