/** One line of the benchmark report. */
export interface Row {
  case: string;
  tool: string;
  seconds: number;
  runs: number[];
  /** ostree's median divided by this tool's: above 1 is faster than ostree. */
  speedupVsOstree: number | null;
  peakRssMiB: number | null;
}

/** Prints rows as an aligned table a person can read. */
export function printTable(rows: Row[]): void {
  if (rows.length === 0) return;
  console.log(rows[0]!.case);
  for (const r of rows) {
    const ratio = r.speedupVsOstree === null ? '' : r.tool === 'ostree' ? '  (baseline)' : `  ${r.speedupVsOstree.toFixed(2)}x vs ostree`;
    const rss = r.peakRssMiB === null ? '' : `  peak ${r.peakRssMiB.toFixed(0)} MiB`;
    console.log(`  ${r.tool.padEnd(20)} ${r.seconds.toFixed(3).padStart(9)} s${ratio}${rss}`);
  }
}
