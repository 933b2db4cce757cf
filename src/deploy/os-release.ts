/**
 * `os-release` as ostree reads it for boot entry titles: `KEY=value` lines, `#` lines skipped,
 * values shell-unquoted as GLib's g_shell_unquote does; a value that does not unquote is ignored.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const value = shellUnquote(line.slice(eq + 1));
    if (value !== null) out.set(line.slice(0, eq), value);
  }
  return out;
}

/** g_shell_unquote: single quotes literal, double quotes with \\ before $ ` " \\ and newline. */
export function shellUnquote(s: string): string | null {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\') {
      if (i + 1 >= s.length) return out + c;
      const n = s[i + 1]!;
      if (n !== '\n') out += n;
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return null;
      out += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return null;
        const d = s[i]!;
        if (d === '"') { i++; break; }
        if (d === '\\' && i + 1 < s.length && '$`"\\\n'.includes(s[i + 1]!)) {
          if (s[i + 1] !== '\n') out += s[i + 1];
          i += 2;
        } else {
          out += d;
          i++;
        }
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
