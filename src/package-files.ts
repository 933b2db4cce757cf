import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The path of a file shipped with grove (its package.json, the libdeflate module, the workers'
 * entry), given from the package's root. The root is the first directory above this module that
 * holds a package.json, because this code runs from two depths: `dist/src/` as tsc writes it,
 * and `dist/bundle/` where the CLI's bundle packs it (src/cli/build/bundle.ts).
 */
export function packageFile(relative: string): string {
  if (root === undefined) {
    const self = fileURLToPath(import.meta.url);
    let dir = path.dirname(self);
    while (!fs.existsSync(path.join(dir, 'package.json'))) {
      const up = path.dirname(dir);
      if (up === dir) throw new Error(`no package.json in any directory above ${self}`);
      dir = up;
    }
    root = dir;
  }
  return path.join(root, relative);
}
