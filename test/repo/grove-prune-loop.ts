import readline from 'node:readline';
import { Repo, pruneRepo } from '../../src/index.js';

/**
 * A child process for the lock race suite: grove's library prune, over and over, on the
 * repository in argv[2] (depth 0, as deploy cleanup prunes). Stdin lines: `go` starts the
 * loop; `stop` ends it after the prune under way and prints how many ran. `ready` is printed
 * once the library is loaded. Ends at end of stdin.
 */
const repo = await Repo.open(process.argv[2]);
let running: Promise<number> | null = null;
let stopping = false;

async function loop(): Promise<number> {
  let n = 0;
  while (!stopping) {
    await pruneRepo(repo, { depth: 0 });
    n++;
    // A breath between prunes, as between two commands: a writer waiting for the lock gets in.
    await new Promise((r) => setTimeout(r, 2));
  }
  return n;
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'go' && running === null) {
    stopping = false;
    running = loop();
  } else if (line === 'stop' && running !== null) {
    stopping = true;
    void running.then((n) => {
      running = null;
      process.stdout.write(`${n}\n`);
    }, (e: unknown) => {
      process.stderr.write(`prune failed: ${(e as Error).stack}\n`);
      process.exit(1);
    });
  }
});
process.stdout.write('ready\n');
