import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { collect, signOptions } from '../parse.js';
import { withRepo } from '../repo-option.js';

/** The port `grove serve` listens on unless told: fixed, so a remote's URL survives a restart. */
const DEFAULT_PORT = 8080;

interface ServeOpts {
  repo?: string; address: string; port?: number; log?: boolean;
  receive?: string; receiveIdleSeconds?: string; generateDeltas?: boolean; gpgSign?: string[]; gpgHomedir?: string; sign?: string[]; signType: string;
}

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
    .option('--receive <tokens>', 'accept grove push from the builders this file names: lines TOKEN PREFIX [PREFIX…]; a prefix ending in * matches every ref under it')
    .option('--receive-idle-seconds <n>', 'cut a push request that sends nothing for this long (default: 30)')
    .option('--generate-deltas', 'after a push moves a ref, generate the static delta from its old commit to the new one')
    .option('--gpg-sign <keyid>', 'after a push moves refs, sign the new summary with this GPG key (repeatable)', collect)
    .option('--gpg-homedir <dir>', 'GPG home directory holding the --gpg-sign keys')
    .option('--sign <key>', 'after a push moves refs, sign the new summary with this secret key (base64 ed25519; repeatable)', collect)
    .option('--sign-type <type>', 'signature type for --sign', 'ed25519')
    .action(async (opts: ServeOpts) => {
      const { serveRepo } = await import('../../net/serve.js');
      const forPushes = opts.gpgSign !== undefined || opts.sign !== undefined || opts.receiveIdleSeconds !== undefined || opts.generateDeltas === true;
      if (forPushes && opts.receive === undefined) throw new GroveError('GROVE_BAD_OPTION', '--gpg-sign, --sign, --receive-idle-seconds and --generate-deltas apply to pushes: give --receive');
      const sign = signOptions(opts);
      const idle = opts.receiveIdleSeconds === undefined ? 30 : Number(opts.receiveIdleSeconds);
      if (!(idle > 0 && idle <= 86400)) throw new GroveError('GROVE_BAD_OPTION', `--receive-idle-seconds: '${opts.receiveIdleSeconds}' is not a number of seconds from 0 to 86400`);
      const receive = opts.receive === undefined ? undefined : {
        tokens: (await import('../../push/tokens.js')).TokenTable.load(opts.receive),
        idleMs: idle * 1000,
        ...(opts.generateDeltas && { deltas: true }),
        log: (line: string) => process.stderr.write(`grove serve: ${line}\n`),
        sign,
      };
      const log = opts.log ? (line: string) => process.stdout.write(`${line}\n`) : undefined;
      const srv = await serveRepo(opts.repo ?? process.env['OSTREE_REPO'] ?? '', {
        address: opts.address,
        port: opts.port ?? DEFAULT_PORT,
        ...(log ? { log } : {}),
        ...(receive && { receive }),
      });
      process.stdout.write(`serving ${srv.root} at ${srv.url}${receive ? ' (receiving pushes)' : ''}\n`);
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
