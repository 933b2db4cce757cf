/**
 * A Boot Loader Specification entry (`boot/loader.N/entries/ostree-V-OS.conf`): `key value`
 * lines. Read as ostree reads them (a line counts when it starts with a letter; the first space
 * or tab separates key from value; a later duplicate key wins, except that extra `initrd` lines
 * are overlay initramfs images) and written as ostree writes them: the known keys first in the
 * order of the specification's example, then overlays, then any other keys.
 */
const WRITE_ORDER = ['title', 'version', 'options', 'devicetree', 'linux', 'initrd'] as const;

export class BootEntry {
  readonly fields = new Map<string, string>();
  overlayInitrds: string[] = [];

  static parse(text: string): BootEntry {
    const e = new BootEntry();
    for (const line of text.split('\n')) {
      if (!/^[A-Za-z]/.test(line)) continue;
      const m = /^([^ \t]*)[ \t](.*)$/s.exec(line);
      if (!m) continue;
      const [, key, value] = m as unknown as [string, string, string];
      if (key === 'initrd' && e.fields.has('initrd')) e.overlayInitrds.push(value);
      else e.fields.set(key, value);
    }
    return e;
  }

  get(key: string): string | undefined {
    return this.fields.get(key);
  }

  set(key: string, value: string): void {
    this.fields.set(key, value);
  }

  clone(): BootEntry {
    const e = new BootEntry();
    for (const [k, v] of this.fields) e.fields.set(k, v);
    e.overlayInitrds = [...this.overlayInitrds];
    return e;
  }

  /**
   * ostree writes the unknown keys in its hash table's order; grove writes them in the order
   * they were read. Entries ostree or grove make have none, so both write the same bytes.
   */
  serialize(): string {
    let out = '';
    const known = new Set<string>(WRITE_ORDER);
    for (const key of WRITE_ORDER) {
      const v = this.fields.get(key);
      if (v !== undefined) out += `${key} ${v}\n`;
    }
    if (this.fields.has('initrd')) for (const o of this.overlayInitrds) out += `initrd ${o}\n`;
    for (const [k, v] of this.fields) if (!known.has(k)) out += `${k} ${v}\n`;
    return out;
  }
}

/**
 * glibc's strverscmp, which ostree uses to order entries by `version`: digit runs compare as
 * numbers, except that runs with leading zeros compare as fractions.
 */
export function strverscmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a[i]!;
    const cb = b[j]!;
    const da = ca >= '0' && ca <= '9';
    const db = cb >= '0' && cb <= '9';
    if (da && db) {
      let ei = i;
      while (ei < a.length && a[ei]! >= '0' && a[ei]! <= '9') ei++;
      let ej = j;
      while (ej < b.length && b[ej]! >= '0' && b[ej]! <= '9') ej++;
      const ra = a.slice(i, ei);
      const rb = b.slice(j, ej);
      const fractional = ra.startsWith('0') || rb.startsWith('0');
      if (fractional) {
        const c = ra < rb ? -1 : ra > rb ? 1 : 0;
        if (c !== 0) return c;
      } else {
        if (ra.length !== rb.length) return ra.length - rb.length;
        if (ra !== rb) return ra < rb ? -1 : 1;
      }
      i = ei;
      j = ej;
      continue;
    }
    if (ca !== cb) return ca.charCodeAt(0) - cb.charCodeAt(0);
    i++;
    j++;
  }
  return (a.length - i) - (b.length - j);
}

/** Highest `version` first; entries without one last (ostree's `compare_boot_loader_configs`). */
export function compareEntries(a: BootEntry, b: BootEntry): number {
  const va = a.get('version');
  const vb = b.get('version');
  if (va !== undefined && vb !== undefined) return -strverscmp(va, vb);
  return va !== undefined ? -1 : 1;
}
