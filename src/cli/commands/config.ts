import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { openRepo, withRepo } from '../repo-option.js';

/** `SECTION.KEY`, where SECTION may itself contain dots and quotes (`remote "origin".url`). */
function splitKey(spec: string): [string, string] {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1) throw new GroveError('GROVE_BAD_OPTION', `'${spec}' is not SECTION.KEY`);
  return [spec.slice(0, dot), spec.slice(dot + 1)];
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('read or change the repository configuration');
  withRepo(config.command('get'))
    .description('print a configuration value')
    .argument('<section.key>')
    .option('--group <group>', 'the group (section), for keys whose group contains dots')
    .action(async (spec: string, opts: { repo?: string; group?: string }) => {
      const repo = await openRepo(opts);
      const [group, key] = opts.group !== undefined ? [opts.group, spec] : splitKey(spec);
      const v = repo.config.get(group, key);
      if (v === undefined) throw new GroveError('GROVE_NO_KEY', `key '${key}' not found in group '${group}' of ${repo.path}/config`);
      process.stdout.write(`${v}\n`);
    });
  withRepo(config.command('set'))
    .description('set a configuration value')
    .argument('<section.key>')
    .argument('<value>')
    .option('--group <group>', 'the group (section), for keys whose group contains dots')
    .action(async (spec: string, value: string, opts: { repo?: string; group?: string }) => {
      const repo = await openRepo(opts);
      const [group, key] = opts.group !== undefined ? [opts.group, spec] : splitKey(spec);
      if (group === 'core' && key === 'mode') throw new GroveError('GROVE_BAD_OPTION', 'core.mode cannot be changed on an existing repository');
      repo.config.set(group, key, value);
      await repo.saveConfig();
    });
}
