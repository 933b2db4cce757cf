import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../../bench/markdown.js';
import type { Row } from '../../bench/report.js';

const row = (c: string, tool: string, seconds: number, ostree: number | null): Row => ({
  case: c, tool, seconds, runs: [seconds], speedupVsOstree: ostree === null ? null : ostree / seconds, peakRssMiB: tool === 'grove' ? 100 : null,
});

test('the README table says which targets a bench run meets, the hardlink checkout held to cp -al too', () => {
  const hl = 'hardlink checkout (-U -H, bare-user)';
  const rows: Row[] = [
    row('fsck (archive)', 'ostree', 3, 3), row('fsck (archive)', 'grove', 1, 3), row('fsck (archive)', 'grove 1 thread', 2, 3),
    // 1.5x ostree, but 1.5x the time of cp -al: the second bound fails.
    row(hl, 'ostree', 3, 3), row(hl, 'grove', 2, 3), row(hl, 'cp -al', 4 / 3, 3),
    row('re-commit unchanged (archive)', 'ostree', 12, 12), row('re-commit unchanged (archive)', 'grove', 1, 12),
    row('re-commit unchanged (archive)', 'tar|gzip -6', 8, 12),
  ];
  const run = { machine: 'm', date: '2026-12-03T00:00:00Z', runs: 1, tree: 't', rows };
  const lines = renderTable(run, false).split('\n');
  const line = (c: string) => lines.find((l) => l.startsWith(`| ${c} |`))!.split(' | ');
  assert.deepEqual(line('fsck (archive)').slice(1, 7), ['3.00 s', '1.00 s (100 MiB)', '3.00x', '≥2.5x', 'yes', '2.00 s (1.50x)']);
  assert.deepEqual(line(hl).slice(3, 6), ['1.50x', '≥1.2x, ≤1.3x cp -al', 'no']);
  assert.match(line(hl).at(-1)!, /^cp -al 1\.33 s \|$/);
  assert.equal(line('re-commit unchanged (archive)')[5], 'yes');
  assert.match(lines.find((l) => l.startsWith('| re-commit'))!, /tar\\\|gzip -6 8\.00 s \|$/, 'a pipe in a cell is escaped');
  // The large tree's target for re-commits is 30x.
  assert.equal(renderTable(run, true).split('\n').find((l) => l.startsWith('| re-commit'))!.split(' | ')[5], 'no');
});

test('a start-up case is met within 40 ms a call of node -e 0, whatever ostree takes', () => {
  const c = (verb: string) => `start-up: ${verb} (×20)`;
  const rows: Row[] = [
    // 20 calls: 1.8 s against node's 1.2 s is +30 ms a call; 2.2 s is +50 ms.
    row(c('refs'), 'ostree', 0.3, 0.3), row(c('refs'), 'grove', 1.8, 0.3), row(c('refs'), 'node -e 0', 1.2, 0.3),
    row(c('rev-parse'), 'ostree', 0.3, 0.3), row(c('rev-parse'), 'grove', 2.2, 0.3), row(c('rev-parse'), 'node -e 0', 1.2, 0.3),
  ];
  const lines = renderTable({ machine: 'm', date: '2026-12-03T00:00:00Z', runs: 1, tree: 't', rows }, false).split('\n');
  const line = (v: string) => lines.find((l) => l.startsWith(`| ${c(v)} |`))!.split(' | ');
  assert.deepEqual(line('refs').slice(4, 6), ['≤ node -e 0 + 40 ms a call', 'yes (+30 ms)']);
  assert.deepEqual(line('rev-parse').slice(4, 6), ['≤ node -e 0 + 40 ms a call', 'no (+50 ms)']);
});
