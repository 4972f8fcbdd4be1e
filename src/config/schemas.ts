/**
 * Zod schemas for setting values. Each accepts both forms a value arrives in — a string from the
 * environment, or a typed value given in code — and every failure says, in one message, what was
 * expected. Strings are read strictly: a typo must fail at start-up, not become a surprising
 * number.
 */
import { z } from 'zod';

/**
 * Largest delay Node timers honour, in ms (2³¹−1, about 24.8 days): a larger one fires after
 * 1 ms instead, which would turn a typo into a reconnect or ping storm.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** Plain decimal digits, optionally signed; surrounding blanks are trimmed first. */
const DECIMAL = /^[+-]?\d+$/;

/**
 * An integer in `[min, max]`, from a number or a string of decimal digits. The string is checked
 * before `z.coerce.number()` converts it, because `Number()` alone reads `""` as 0, `"1e3"` as
 * 1000 and `"0x10"` as 16, hiding typos (and `parseInt` reads `"10s"` as 10).
 */
export function integerSchema(bounds: { min: number; max: number }) {
  const error =
    bounds.max === Number.MAX_SAFE_INTEGER
      ? `expected an integer ≥ ${bounds.min}`
      : `expected an integer from ${bounds.min} to ${bounds.max}`;
  return z
    .union([z.number({ error }), z.string({ error }).trim().regex(DECIMAL, { error })], { error })
    .pipe(z.coerce.number<string | number>({ error }).int({ error }).min(bounds.min, { error }).max(bounds.max, { error }));
}

/** A duration in ms: an integer from `min` (default 1) to {@link MAX_TIMER_MS}. */
export function durationMsSchema(min = 1) {
  return integerSchema({ min, max: MAX_TIMER_MS });
}

/**
 * A boolean: `true`/`false` in code, or `true`, `false`, `1`, `0` (any case, blanks trimmed)
 * from the environment. Not `z.coerce.boolean()`: that is `Boolean(value)`, which reads the
 * string `"false"` as true.
 */
export function booleanSchema() {
  const error = 'expected true, false, 1 or 0';
  return z.union(
    [z.boolean({ error }), z.string({ error }).trim().pipe(z.stringbool({ truthy: ['true', '1'], falsy: ['false', '0'], error }))],
    { error },
  );
}

/** A string with something other than blanks in it, trimmed. */
export function nonEmptyStringSchema() {
  const error = 'expected a non-empty string';
  return z.string({ error }).trim().min(1, { error });
}

/**
 * A secret of at least `minBytes` UTF-8 bytes, taken verbatim: no trimming, since a space may be
 * part of one.
 */
export function secretSchema(minBytes: number) {
  const error = `expected a string of at least ${minBytes} bytes`;
  return z.string({ error }).refine((text) => Buffer.byteLength(text, 'utf8') >= minBytes, { error });
}

/** One of `values`, case-insensitive and trimmed (`DEBUG` → `debug`). */
export function oneOfSchema<const T extends readonly [string, ...string[]]>(values: T) {
  const error = `expected one of ${values.join(', ')}`;
  return z.string({ error }).trim().toLowerCase().pipe(z.enum(values, { error }));
}

/**
 * A base URL with one of `schemes` (`['http', 'https']`) and no query or fragment, since paths
 * are appended to it; trailing slashes are dropped (`http://a.example/` → `http://a.example`).
 */
export function baseUrlSchema(schemes: readonly [string, ...string[]]) {
  const error = `expected a ${schemes.map((s) => `${s}://`).join(' or ')} URL without query or fragment`;
  return z
    .string({ error })
    .trim()
    .transform((text, ctx) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: error });
        return z.NEVER;
      }
      if (!schemes.includes(url.protocol.slice(0, -1)) || url.search || url.hash) {
        ctx.addIssue({ code: 'custom', message: error });
        return z.NEVER;
      }
      return url.href.replace(/\/+$/, '');
    });
}

/** A cluster node's name: it becomes part of NATS subjects and KV keys, so letters, digits, `_` and `-` only. */
export function nodeIdSchema() {
  return z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, _ or -');
}
