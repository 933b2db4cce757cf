import { Variant, parseType, type GType, type GVariantValue } from './types.js';

/**
 * A value with every number's bytes reversed, as GLib's `g_variant_byteswap` does: ostree prints
 * raw summaries and objects through it (they hold big-endian integers inside little-endian
 * GVariant), so `--raw` output shows what ostree shows.
 */
export function byteswap(type: string, value: GVariantValue): GVariantValue {
  return swap(parseType(type), value);
}

function swap(t: GType, v: GVariantValue): GVariantValue {
  const dv = new DataView(new ArrayBuffer(8));
  switch (t.code) {
    case 'n': dv.setInt16(0, v as number, true); return dv.getInt16(0, false);
    case 'q': dv.setUint16(0, v as number, true); return dv.getUint16(0, false);
    case 'i': dv.setInt32(0, v as number, true); return dv.getInt32(0, false);
    case 'u': case 'h': dv.setUint32(0, v as number, true); return dv.getUint32(0, false);
    case 'x': dv.setBigInt64(0, v as bigint, true); return dv.getBigInt64(0, false);
    case 't': dv.setBigUint64(0, v as bigint, true); return dv.getBigUint64(0, false);
    case 'd': dv.setFloat64(0, v as number, true); return dv.getFloat64(0, false);
    case 'v': {
      const inner = v as Variant;
      return new Variant(inner.type, byteswap(inner.type, inner.value));
    }
    case 'm': return v === null ? null : swap(t.elem!, v);
    case 'a':
      if (v instanceof Uint8Array) return v;
      return (v as GVariantValue[]).map((e) => swap(t.elem!, e));
    case '(': case '{':
      return (v as GVariantValue[]).map((e, i) => swap(t.members[i]!, e));
    default:
      return v;
  }
}
