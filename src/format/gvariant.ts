/**
 * The GVariant codec, driven by type strings, byte-for-byte compatible with GLib's serializer.
 * Everything ostree stores as metadata (commits, dirtrees, dirmeta, file headers, summaries)
 * goes through here. See gvariant/types.ts for the value model and layout rules. The text form
 * (gvariant/text.ts) and byte swapping (gvariant/byteswap.ts) are imported from their own
 * modules by the few that need them: every command loads this one.
 */
export { Variant, isValidType, type GVariantValue } from './gvariant/types.js';
export { encode } from './gvariant/encode.js';
export { decode } from './gvariant/decode.js';
