import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { withRepo } from '../repo-option.js';

/** The port `grove serve` listens on unless told: fixed, so a remote's URL survives a restart. */
const DEFAULT_PORT = 8080;

interface ServeOpts { repo?: string; address: string; port?: number; log?: boolean }

function parsePort(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) {
    throw new GroveError('GROVE_BAD_OPTION', `--port: '${v}' is not a TCP port (0 to 65535)`);
  }
  return Number(v);
}

export function registerServe(program: Command): void {
  withRepo(program.command('serve'))
    .description('serve the repository over HTTP as static files, for ostree pull (runs until SIGINT or SIGTERM)')
    .option('--address <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', `TCP port, 0 for any free one (default: ${DEFAULT_PORT})`, parsePort)
    .option('--log', 'print one line per request on stdout')
    .action(async (opts: ServeOpts) => {
      const { serveRepo } = await import('../../net/serve.js');
      const log = opts.log ? (line: string) => process.stdout.write(`${line}\n`) : undefined;
      const srv = await serveRepo(opts.repo ?? process.env['OSTREE_REPO'] ?? '', {
        address: opts.address,
        port: opts.port ?? DEFAULT_PORT,
        ...(log ? { log } : {}),
      });
      process.stdout.write(`serving ${srv.root} at ${srv.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await srv.close();
    });
}
