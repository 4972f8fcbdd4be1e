/**
 * Building blocks shared by the four message files: how a message schema is declared and how
 * its TypeScript type is derived from it.
 */
import { z } from 'zod';

/**
 * Schema of one wire message: a loose object whose `type` is the literal `type`. Loose because
 * real peers add fields we do not model (`timestamp` on every `@mentra/sdk` frame, newer SDK
 * fields); they are kept, not stripped, so a forwarded event reaches apps intact.
 */
export function defineMessage<const T extends string, S extends z.ZodRawShape>(type: T, shape: S) {
  return z.looseObject({ type: z.literal(type), ...shape });
}

/**
 * `T` without its string index signature. Loose schemas infer `[key: string]: unknown`, which
 * would switch off excess-property checks when code builds a message; the exported message
 * types drop it so a misspelt field is a compile error. Distributes over unions.
 */
export type WireShape<T> = T extends unknown
  ? { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] }
  : never;
