import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './report.js';
import { STARTUP_CALLS } from './startup-case.js';

/**
 * `node dist/bench/markdown.js RUN.json [large|small]`: the README's performance table from one
 * bench run's JSON (`npm run bench -- … --json RUN.json`), so that the table is what a run
 * printed and nothing else. One line per case: ostree's and grove's medians, the ratio, the issue's
 * target and whether the run meets it, every other grove build that ran (with its ratio) and the
 * physical references. `large` holds the re-commit cases to the large tree's target.
 */

interface Run { machine: string; date: string; runs: number; tree: string; rows: Row[] }

/** Start-up's target: at most this much over `node -e 0`, per call. */
const STARTUP_OVER_NODE_S = 0.040;

/** The target ratio to ostree for a case, and for the hardlink checkout also the bound against `cp -al`. */
function targetOf(name: string, large: boolean): { ratio: number; cpal?: number } | null {
  if (name.startsWith('commit into empty archive')) return { ratio: 4 };
  if (name.startsWith('commit into empty bare-user')) return { ratio: 2 };
  if (name.startsWith('re-commit unchanged')) return { ratio: large ? 30 : 10 };
  if (name.startsWith('hardlink checkout')) return { ratio: 1.2, cpal: 1.3 };
  if (name === 'archive checkout') return { ratio: 2 };
  if (name.startsWith('fsck')) return { ratio: 2.5 };
  if (name.startsWith('pull over loopback from nginx')) return { ratio: 1.5 };
  if (name.startsWith('admin deploy')) return { ratio: 1.2 };
  return null;
}

const seconds = (s: number) => `${s < 1 ? s.toFixed(3) : s.toFixed(2)} s`;

export function renderTable(run: Run, large: boolean): string {
  const cases = [...new Set(run.rows.map((r) => r.case))];
  const groveBuilds = [...new Set(run.rows.filter((r) => r.tool.startsWith('grove') && r.tool !== 'grove').map((r) => r.tool))];
  const head = ['operation', 'ostree 2022.7', 'grove', 'ratio', 'target', 'met', ...groveBuilds.map((g) => `${g} (ratio)`), 'references'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((h, i) => (i === 0 || h === 'target' || h === 'met' || h === 'references' ? '---' : '---:')).join(' | ')} |`];
  for (const c of cases) {
    const rows = run.rows.filter((r) => r.case === c);
    const get = (tool: string) => rows.find((r) => r.tool === tool);
    const o = get('ostree');
    const g = get('grove');
    const t = targetOf(c, large);
    const cpal = get('cp -al');
    let met = '';
    const node = get('node -e 0');
    let target = t ? `≥${t.ratio}x${t.cpal ? `, ≤${t.cpal}x cp -al` : ''}` : '';
    if (c.startsWith('start-up:') && g && node) {
      const over = (g.seconds - node.seconds) / STARTUP_CALLS;
      target = `≤ node -e 0 + ${STARTUP_OVER_NODE_S * 1000} ms a call`;
      met = `${over <= STARTUP_OVER_NODE_S ? 'yes' : 'no'} (+${(over * 1000).toFixed(0)} ms)`;
    } else if (t && g?.speedupVsOstree != null) {
      met = g.speedupVsOstree >= t.ratio && (t.cpal === undefined || (cpal !== undefined && g.seconds <= cpal.seconds * t.cpal)) ? 'yes' : 'no';
    }
    const refs = rows.filter((r) => r.tool !== 'ostree' && !r.tool.startsWith('grove')).map((r) => `${r.tool} ${seconds(r.seconds)}`).join(', ');
    const rss = g?.peakRssMiB != null ? ` (${g.peakRssMiB.toFixed(0)} MiB)` : '';
    const cells = [
      c,
      o ? seconds(o.seconds) : '',
      g ? `${seconds(g.seconds)}${rss}` : '',
      g?.speedupVsOstree != null ? `${g.speedupVsOstree.toFixed(2)}x` : '',
      target,
      met,
      ...groveBuilds.map((b) => {
        const r = get(b);
        return r ? `${seconds(r.seconds)}${r.speedupVsOstree != null ? ` (${r.speedupVsOstree.toFixed(2)}x)` : ''}` : '';
      }),
      refs,
    ];
    // A pipe inside a cell (`tar|gzip -6`) would end it.
    lines.push(`| ${cells.map((x) => x.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return `${run.machine}; ${run.date.slice(0, 10)}; ${run.tree}; ${run.runs} run(s), medians; grove's peak RSS in brackets\n\n${lines.join('\n')}\n`;
}

// Run as a script, not imported (by its test).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [file, size] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/markdown.js RUN.json [large|small]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(renderTable(JSON.parse(fs.readFileSync(file, 'utf8')) as Run, size === 'large'));
  }
}
