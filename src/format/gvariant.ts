/**
 * The GVariant codec, driven by type strings, byte-for-byte compatible with GLib's serializer.
 * Everything ostree stores as metadata (commits, dirtrees, dirmeta, file headers, summaries)
 * goes through here. See gvariant/types.ts for the value model and layout rules.
 */
export { Variant, isValidType, type GVariantValue } from './gvariant/types.js';
export { encode } from './gvariant/encode.js';
export { decode } from './gvariant/decode.js';
export { parseVariantText, printVariant } from './gvariant/text.js';
export { byteswap } from './gvariant/byteswap.js';
