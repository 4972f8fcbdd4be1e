/**
 * The one way a frame off a socket becomes a typed message. Every failure comes back as a value
 * with a `format` error code, never as an exception: a peer's bad input must not crash a
 * process (ARCHITECTURE.md principle 7).
 */
import type { z } from 'zod';
import { appToCloudMessageSchema } from './appToCloud.js';
import type { AppToCloudMessage } from './appToCloud.js';
import { cloudToAppMessageSchema } from './cloudToApp.js';
import type { CloudToAppMessage } from './cloudToApp.js';
import { cloudToGlassesMessageSchema } from './cloudToGlasses.js';
import type { CloudToGlassesMessage } from './cloudToGlasses.js';
import { errorInfo } from './errors.js';
import type { FormatErrorCode } from './errors.js';
import { glassesToCloudMessageSchema } from './glassesToCloud.js';
import type { GlassesToCloudMessage } from './glassesToCloud.js';
import { MAX_JSON_DEPTH, MAX_MESSAGE_BYTES } from './limits.js';

/** Message type of each direction of the protocol. */
export interface MessageBySide {
  glassesToCloud: GlassesToCloudMessage;
  cloudToGlasses: CloudToGlassesMessage;
  appToCloud: AppToCloudMessage;
  cloudToApp: CloudToAppMessage;
}

/** A direction of the protocol: who sends, who receives. */
export type Side = keyof MessageBySide;

/** Any message in any direction. */
export type WireMessage = MessageBySide[Side];

/** A message of direction `S` with type `K`. */
export type MessageOf<S extends Side, K extends MessageBySide[S]['type']> = Extract<MessageBySide[S], { type: K }>;

/** What `ws` hands to a `message` listener (`RawData`), or a plain string. */
export type RawMessage = string | Buffer | ArrayBuffer | Buffer[];

/** Options of {@link parseMessage}. */
export interface ParseOptions {
  /** Largest accepted frame in bytes; defaults to {@link MAX_MESSAGE_BYTES}. */
  maxBytes?: number;
  /** Deepest nesting of arrays and objects accepted; defaults to {@link MAX_JSON_DEPTH}. */
  maxDepth?: number;
}

/** Why a frame was refused. */
export interface ParseError {
  /** Which check failed. */
  code: FormatErrorCode;
  /** Always `format`. */
  category: 'format';
  /** Human-readable explanation, with field paths for `INVALID_FIELDS`; bounded in length. */
  message: string;
  /** The frame's `type`, when it got far enough to have one (truncated if absurdly long). */
  type?: string;
}

/** Result of {@link parseMessage}: the typed message, or why it was refused. */
export type ParseResult<S extends Side> =
  | { ok: true; message: MessageBySide[S] }
  | { ok: false; error: ParseError };

interface Discriminated {
  readonly options: readonly z.ZodType[];
}

// Lookup by type first, so an unknown type gets UNKNOWN_TYPE (not a union error) and only one
// schema runs per frame. A Map, not an object, so `type: "__proto__"` finds nothing.
function indexByType(union: Discriminated): ReadonlyMap<string, z.ZodType> {
  const byType = new Map<string, z.ZodType>();
  for (const option of union.options) {
    const typeSchema = (option as unknown as { shape: { type: { values: ReadonlySet<string> } } }).shape.type;
    for (const value of typeSchema.values) byType.set(value, option);
  }
  return byType;
}

const schemasBySide: Readonly<Record<Side, ReadonlyMap<string, z.ZodType>>> = {
  glassesToCloud: indexByType(glassesToCloudMessageSchema),
  cloudToGlasses: indexByType(cloudToGlassesMessageSchema),
  appToCloud: indexByType(appToCloudMessageSchema),
  cloudToApp: indexByType(cloudToAppMessageSchema),
};

// Bounds on what an error echoes back: its text may be logged or sent to the peer.
const MAX_TYPE_ECHO = 100;
const MAX_ISSUES_LISTED = 5;
const MAX_ERROR_MESSAGE = 500;

// `fatal` so invalid UTF-8 is refused instead of silently becoming U+FFFD inside a field.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(code: FormatErrorCode, message: string, type?: string): { ok: false; error: ParseError } {
  const error: ParseError = { code, category: 'format', message: clip(message, MAX_ERROR_MESSAGE) };
  if (type !== undefined) error.type = clip(type, MAX_TYPE_ECHO);
  return { ok: false, error };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function byteLength(raw: RawMessage): number {
  if (typeof raw === 'string') return Buffer.byteLength(raw, 'utf8');
  if (Array.isArray(raw)) return raw.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  return raw.byteLength;
}

function isTooLarge(raw: RawMessage, maxBytes: number): boolean {
  if (typeof raw === 'string') {
    // A UTF-16 code unit takes one to three UTF-8 bytes, so most strings are decided without
    // walking them; only those in between are counted.
    if (raw.length > maxBytes) return true;
    if (raw.length * 3 <= maxBytes) return false;
  }
  return byteLength(raw) > maxBytes;
}

function decode(raw: Exclude<RawMessage, string>): string {
  if (Array.isArray(raw)) return utf8.decode(Buffer.concat(raw));
  return utf8.decode(raw);
}

function describePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function summarizeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const listed = issues.slice(0, MAX_ISSUES_LISTED).map((issue) => `${describePath(issue.path)}: ${issue.message}`);
  const more = issues.length - listed.length;
  return more > 0 ? `${listed.join('; ')}; and ${more} more` : listed.join('; ');
}

/**
 * Parses one frame from a peer in direction `side`. Checks, in order: size (before any decoding,
 * `MESSAGE_TOO_LARGE`), UTF-8 and JSON (`INVALID_JSON`), an object with a string `type`
 * (`MISSING_TYPE`), a type known for that direction (`UNKNOWN_TYPE`), its fields
 * (`INVALID_FIELDS`). Never throws, whatever `raw` holds. Fields the schema does not model are
 * kept on the returned message.
 */
export function parseMessage<S extends Side>(side: S, raw: RawMessage, options?: ParseOptions): ParseResult<S> {
  try {
    return parseUnchecked(side, raw, options);
  } catch (error) {
    // Only reachable through something pathological (a value so deep it overflows the stack);
    // report it as unreadable rather than let it escape.
    return fail('INVALID_JSON', `Message could not be parsed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseUnchecked<S extends Side>(side: S, raw: RawMessage, options?: ParseOptions): ParseResult<S> {
  const maxBytes = options?.maxBytes ?? MAX_MESSAGE_BYTES;
  if (!isValidRaw(raw)) return fail('INVALID_JSON', 'Message is not text or bytes');
  if (isTooLarge(raw, maxBytes)) return fail('MESSAGE_TOO_LARGE', `Message exceeds ${maxBytes} bytes`);

  let text: string;
  try {
    text = typeof raw === 'string' ? raw : decode(raw);
  } catch {
    return fail('INVALID_JSON', 'Message is not valid UTF-8');
  }

  const maxDepth = options?.maxDepth ?? MAX_JSON_DEPTH;
  if (!fewerOpeningsThan(text, maxDepth + 1) && nestsDeeperThan(text, maxDepth)) return fail('INVALID_FIELDS', `Message nests deeper than ${maxDepth} levels`);

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail('INVALID_JSON', `${errorInfo('INVALID_JSON').message}: ${error instanceof Error ? error.message : ''}`);
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('MISSING_TYPE', 'Message is not a JSON object');
  }
  const type: unknown = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return fail('MISSING_TYPE', errorInfo('MISSING_TYPE').message);

  const schema = schemasBySide[side].get(type);
  if (schema === undefined) {
    return fail('UNKNOWN_TYPE', `Unknown ${side} message type "${clip(type, MAX_TYPE_ECHO)}"`, type);
  }

  const result = schema.safeParse(value);
  if (!result.success) {
    return fail('INVALID_FIELDS', `Invalid ${type}: ${summarizeIssues(result.error.issues)}`, type);
  }
  return { ok: true, message: result.data as MessageBySide[S] };
}

/**
 * Whether `text` holds fewer than `limit` opening brackets (`{` and `[`, counted inside strings
 * too). Nesting depth never exceeds that count, so a frame with few of them needs no scan: the
 * count runs in `indexOf`'s native loop, where the scan below is a JavaScript loop over every
 * character (10% of the relay's CPU, `bench/relay.ts` under `--cpu-prof`, for events with one
 * object in them).
 */
function fewerOpeningsThan(text: string, limit: number): boolean {
  let count = 0;
  for (const bracket of ['{', '[']) {
    for (let at = text.indexOf(bracket); at !== -1; at = text.indexOf(bracket, at + 1)) {
      if (++count >= limit) return false;
    }
  }
  return true;
}

/**
 * Whether the JSON text nests arrays and objects deeper than `maxDepth`: one pass over the
 * characters, skipping strings, without parsing. Malformed text is left to `JSON.parse`.
 */
function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

// Callers in plain JS, or holding an `any`, can pass anything; the promise is "never throws".
function isValidRaw(raw: unknown): raw is RawMessage {
  if (typeof raw === 'string' || raw instanceof ArrayBuffer || raw instanceof Uint8Array) return true;
  return Array.isArray(raw) && raw.every((chunk) => chunk instanceof Uint8Array);
}

/**
 * The text of a frame as `ws` hands it to a `message` listener, decoded leniently (invalid
 * UTF-8 becomes U+FFFD). For peers' messages use {@link parseMessage}, which refuses it; this
 * is for frames whose bytes are only logged, echoed or parsed as plain JSON (inspector, tests).
 */
export function frameText(raw: RawMessage): string {
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return (Buffer.isBuffer(raw) ? raw : Buffer.from(raw)).toString('utf8');
}

/**
 * The JSON text of `message`, ready for `socket.send`. No validation: typed construction is the
 * check for what we send. `Date` values become ISO strings, as `@mentra/sdk`'s timestamps are.
 */
export function serialize(message: WireMessage): string {
  return JSON.stringify(message);
}
