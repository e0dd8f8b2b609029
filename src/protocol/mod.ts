/**
 * The herd wire protocol, pure code with no I/O: framing, fields, ISO 6709,
 * exact decimal time, skew, message parse/format and the record order.
 *
 * @module
 */

export * from "./wire_text.ts";
export * from "./framing.ts";
export * from "./fields.ts";
export * from "./decimal.ts";
export * from "./iso6709.ts";
export * from "./skew.ts";
export * from "./posix_time.ts";
export * from "./record.ts";
export * from "./message.ts";
export * from "./digest.ts";
export * from "./expiry.ts";
