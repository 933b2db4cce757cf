/**
 * GLib's `g_format_size`: decimal units with one decimal, "N bytes" below 1 kB. GLib puts a
 * no-break space (U+00A0) between a number and its unit, and a plain one before "bytes".
 */
export function formatSize(n: number): string {
  if (n < 1000) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(1)}\u00a0${units[i]}`;
}
