import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { UsageError, verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

/** `SECTION.KEY`, split at the first dot as ostree splits it (a group with dots needs --group). */
function splitKey(spec: string): [string, string] {
  const dot = spec.indexOf('.');
  if (dot < 0) throw new GroveError('GROVE_BAD_OPTION', 'Key must be of the form "sectionname.keyname"');
  return [spec.slice(0, dot), spec.slice(dot + 1)];
}

/**
 * `config OPERATION …`: as in ostree, one verb whose first operand is the operation, so its
 * options may come before, between or after the operation and its operands.
 */
export function registerConfig(program: Command): void {
  verb(withRepo(program.command('config')), { params: '(get KEY|set KEY VALUE|unset KEY)', missing: ['OPERATION must be specified'] })
    .description('read or change the repository configuration')
    .argument('<operation>', 'get KEY, set KEY VALUE or unset KEY (KEY is SECTION.NAME, or NAME with --group)')
    .argument('[operands...]')
    .option('--group <group>', 'the group (section) of the key, for groups whose name contains dots')
    .action(async (op: string, operands: string[], opts: { repo?: string; group?: string }) => {
      const repo = await openRepo(opts);
      if (operands.length > (op === 'set' ? 2 : 1)) throw new UsageError('Too many arguments given');
      const group = opts.group;
      const locate = (): [string, string] => {
        if (operands.length < 1) throw new GroveError('GROVE_BAD_OPTION', group !== undefined ? 'Group name and key must be specified' : 'KEY must be specified');
        return group !== undefined ? [group, operands[0]!] : splitKey(operands[0]!);
      };
      if (op === 'get') {
        const [g, key] = locate();
        const v = repo.config.get(g, key);
        if (v === undefined) {
          throw new GroveError('GROVE_NO_KEY', repo.config.hasGroup(g) ? `Key file does not have key “${key}” in group “${g}”` : `Key file does not have group “${g}”`);
        }
        process.stdout.write(`${v}\n`);
      } else if (op === 'set') {
        if (operands.length < 2) throw new GroveError('GROVE_BAD_OPTION', group !== undefined ? 'GROUP name, KEY and VALUE must be specified' : 'KEY and VALUE must be specified');
        const [g, key] = group !== undefined ? [group, operands[0]!] : splitKey(operands[0]!);
        if (g === 'core' && key === 'mode') throw new GroveError('GROVE_BAD_OPTION', 'core.mode cannot be changed on an existing repository');
        repo.config.set(g, key, operands[1]!);
        await repo.saveConfig();
      } else if (op === 'unset') {
        const [g, key] = locate();
        // As ostree: a key that is not there is no error.
        if (repo.config.remove(g, key)) await repo.saveConfig();
      } else {
        throw new GroveError('GROVE_BAD_OPTION', `Unknown operation ${op}`);
      }
    });
}
