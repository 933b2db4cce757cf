import path from 'node:path';
import { quote, run } from './measure.js';
import { pullCases } from './pull-case.js';
import { deltaCases } from './delta-case.js';
import { pushCases } from './push-case.js';
import { startupCases } from './startup-case.js';
import { cli, discard } from './workdirs.js';

/**
 * What the benchmark times. Every case is run by every tool on the same tree; the physical
 * references (cp, tar, sha256sum) bound what the machine can do at all.
 */
export interface Tool {
  name: string;
  kind: 'ostree' | 'grove' | 'reference';
  env?: NodeJS.ProcessEnv;
  /** Another build of grove's CLI (`--compare`), instead of this one. */
  bin?: string;
}

export type BenchMode = 'startup' | 'archive' | 'bare-user' | 'pull' | 'deploy' | 'deltas' | 'push';
export const BENCH_MODES: readonly BenchMode[] = ['startup', 'archive', 'bare-user', 'pull', 'deploy', 'deltas', 'push'];

export interface Case {
  name: string;
  mode: BenchMode;
  /** Runs once before the case's rounds (e.g. starts a server); `after` undoes it. */
  before?(w: Workdirs): Promise<void>;
  after?(w: Workdirs): Promise<void>;
  /** Shell command for a tool, or null when the tool has no such operation. */
  command(tool: Tool, w: Workdirs): string | null;
  /** Runs before each timed run, untimed. */
  setup(tool: Tool, w: Workdirs): string;
}

export interface Workdirs { tree: string; scratch: string; grove: string; tools: Tool[] }

const repo = (tool: Tool, w: Workdirs, mode: string) => path.join(w.scratch, `${tool.name}-${mode}-repo`);
const dest = (tool: Tool, w: Workdirs) => path.join(w.scratch, `${tool.name}-checkout`);
function init(tool: Tool, w: Workdirs, mode: string): string {
  const r = repo(tool, w, mode);
  return `${discard(r, w)} && ${cli(tool, w)} init --repo=${quote(r)} --mode=${mode}`;
}

function commit(tool: Tool, w: Workdirs, mode: string, subject: string): string {
  return `${cli(tool, w)} commit --repo=${quote(repo(tool, w, mode))} -b bench -s ${quote(subject)} ${quote(w.tree)} >/dev/null`;
}

/** Touches 1% of the files, deterministically spread, so both tools see the same change. */
function changeOnePercent(w: Workdirs): string {
  return `find ${quote(w.tree)} -type f -print0 | sort -z | awk 'BEGIN{RS="\\0"; ORS="\\0"} NR%100==0' | xargs -0 -r -n 200 sh -c 'for f; do printf x >> "$f"; done' sh`;
}

export function buildCases(modes: BenchMode[]): Case[] {
  const cases: Case[] = [];
  for (const mode of modes) {
    if (mode === 'pull') {
      cases.push(...pullCases());
      continue;
    }
    if (mode === 'deploy') {
      cases.push(deployCase());
      continue;
    }
    if (mode === 'deltas') {
      cases.push(...deltaCases());
      continue;
    }
    if (mode === 'push') {
      cases.push(...pushCases());
      continue;
    }
    if (mode === 'startup') {
      cases.push(...startupCases());
      continue;
    }
    cases.push({
      name: `commit into empty ${mode} repo`,
      mode,
      setup: (t, w) => (t.kind === 'reference' ? discard(dest(t, w), w) : init(t, w, mode)),
      command: (t, w) => {
        if (t.kind !== 'reference') return commit(t, w, mode, 'first');
        if (t.name === 'cp -a' && mode === 'bare-user') return `cp -a ${quote(w.tree)} ${quote(dest(t, w))}`;
        if (t.name === 'tar|gzip -6' && mode === 'archive') return `tar -C ${quote(w.tree)} -cf - . | gzip -6 > /dev/null`;
        if (t.name === 'sha256sum') return `find ${quote(w.tree)} -type f -print0 | xargs -0 -r -P2 -n 500 sha256sum > /dev/null`;
        return null;
      },
    });
    cases.push({
      name: `re-commit unchanged (${mode})`,
      mode,
      setup: (t, w) => (t.kind === 'reference' ? 'true' : `test -d ${quote(repo(t, w, mode))} || (${init(t, w, mode)} && ${commit(t, w, mode, 'seed')})`),
      command: (t, w) => (t.kind === 'reference' ? null : commit(t, w, mode, 'again')),
    });
    cases.push({
      name: `re-commit 1% changed (${mode})`,
      mode,
      setup: (t, w) => (t.kind === 'reference' ? 'true' : changeOnePercent(w)),
      command: (t, w) => (t.kind === 'reference' ? null : commit(t, w, mode, 'one percent')),
    });
    cases.push({
      name: mode === 'bare-user' ? 'hardlink checkout (-U -H, bare-user)' : 'archive checkout',
      mode,
      setup: (t, w) => discard(dest(t, w), w),
      command: (t, w) => {
        if (t.kind === 'reference') {
          if (mode === 'bare-user' && t.name === 'cp -al') return `cp -al ${quote(w.tree)} ${quote(dest(t, w))}`;
          if (mode === 'archive' && t.name === 'cp -a') return `cp -a ${quote(w.tree)} ${quote(dest(t, w))}`;
          return null;
        }
        const flags = mode === 'bare-user' ? '-U -H' : '';
        return `${cli(t, w)} checkout --repo=${quote(repo(t, w, mode))} ${flags} bench ${quote(dest(t, w))}`;
      },
    });
    cases.push({
      name: `fsck (${mode})`,
      mode,
      setup: () => 'true',
      command: (t, w) => (t.kind === 'reference' ? null : `${cli(t, w)} fsck --repo=${quote(repo(t, w, mode))} >/dev/null`),
    });
  }
  return cases;
}

/**
 * `admin deploy` of the tree as an OS upgrade: one commit (made by ostree, with a kernel and
 * initramfs added and /etc moved to /usr/etc as OS builds ship it) in each tool's own sysroot,
 * deployed again each round. From the third round on each deploy also removes the oldest
 * deployment, as an upgrade does. The physical reference is `cp -al` of the tree.
 */
function deployCase(): Case {
  const tree = (w: Workdirs) => path.join(w.scratch, 'deploy-tree');
  const source = (w: Workdirs) => path.join(w.scratch, 'deploy-source-repo');
  const sysroot = (t: Tool, w: Workdirs) => path.join(w.scratch, `${t.name.replace(/[^a-z0-9]+/gi, '-')}-sysroot`);
  const unlockAndRemove = (dir: string) => `if [ -d ${quote(dir)} ]; then find ${quote(dir)} -maxdepth 6 -path '*/ostree/deploy/*/deploy/*' -type d -prune -exec chattr -i {} + 2>/dev/null; rm -rf ${quote(dir)}; fi`;
  return {
    name: 'admin deploy (hardlink checkout, /etc copy, boot entries)',
    mode: 'deploy',
    async before(w) {
      const t = quote(tree(w));
      const k = `${t}/usr/lib/modules/6.1.0-bench`;
      run(`rm -rf ${t} && cp -al ${quote(w.tree)} ${t} && { [ ! -e ${t}/etc ] || [ -e ${t}/usr/etc ] || { mkdir -p ${t}/usr && mv ${t}/etc ${t}/usr/etc; }; }`
        + ` && mkdir -p ${k} && head -c 8000000 /dev/urandom > ${k}/vmlinuz && head -c 30000000 /dev/urandom > ${k}/initramfs.img`
        + ` && mkdir -p ${t}/usr/lib && { [ -e ${t}/usr/lib/os-release ] || printf 'ID=bench\\n' > ${t}/usr/lib/os-release; }`);
      const s = quote(source(w));
      run(`rm -rf ${s} && ostree init --repo=${s} --mode=bare && ostree commit --repo=${s} -b bench --add-metadata-string=version=1 ${t} >/dev/null`);
    },
    async after(w) {
      run([...w.tools.filter((x) => x.kind !== 'reference').map((x) => unlockAndRemove(sysroot(x, w))), `rm -rf ${quote(tree(w))} ${quote(source(w))} ${quote(path.join(w.scratch, 'cp-al-deploy'))}`].join('; '));
    },
    setup: (t, w) => {
      if (t.kind === 'reference') return discard(path.join(w.scratch, 'cp-al-deploy'), w);
      const s = quote(sysroot(t, w));
      return `test -d ${s}/ostree/deploy/bench || { mkdir -p ${s} && ostree admin init-fs ${s} >/dev/null && ostree admin --sysroot=${s} os-init bench >/dev/null && ostree pull-local --repo=${s}/ostree/repo ${quote(source(w))} bench >/dev/null; }`;
    },
    command: (t, w) => {
      if (t.kind === 'reference') return t.name === 'cp -al' ? `cp -al ${quote(tree(w))} ${quote(path.join(w.scratch, 'cp-al-deploy'))}` : null;
      return `${cli(t, w)} admin --sysroot=${quote(sysroot(t, w))} deploy --os=bench --karg=root=LABEL=root bench >/dev/null 2>&1`;
    },
  };
}
