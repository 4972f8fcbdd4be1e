/**
 * Turns any value an actor holds (its context, an event's payload) into plain JSON that can
 * leave the process: secret-looking keys become `"[redacted]"` at any depth, functions
 * `"[function]"`, cycles `"[circular]"`, actor refs `"[actor <id>]"`, and other class instances
 * (sockets, timers, buffers) a short label rather than their internals. Sizes are bounded so
 * one huge context cannot stall the event loop or the page.
 */

/** Keys whose values never leave the process. */
export const SECRET_KEY_PATTERN = /api.?key|token|secret|password|authorization|cookie/i;

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

/** Decides whether a key's value is secret. */
export type RedactRule = RegExp | ((key: string) => boolean);

/** Bounds of {@link toSafeJson}. */
export interface SafeJsonOptions {
  /** Secret keys (default {@link SECRET_KEY_PATTERN}). */
  redact?: RedactRule;
  /** Deepest nesting kept; deeper values become `"[…]"` (default 12). */
  maxDepth?: number;
  /** Longest array kept; the rest is summarised in a last string item (default 200). */
  maxArray?: number;
  /** Most keys kept per object (default 200). */
  maxKeys?: number;
  /** Longest string kept, in UTF-16 units (default 2000). */
  maxString?: number;
}

/** A key test from a rule. */
function secretKeyTest(rule: RedactRule = SECRET_KEY_PATTERN): (key: string) => boolean {
  if (typeof rule === 'function') return rule;
  // A /g or /y rule would carry lastIndex from one key to the next.
  const pattern = new RegExp(rule.source, rule.flags.replace(/[gy]/g, ''));
  return (key) => pattern.test(key);
}

interface Walk {
  secret: (key: string) => boolean;
  maxDepth: number;
  maxArray: number;
  maxKeys: number;
  maxString: number;
  seen: Set<object>;
}

/**
 * A function that makes JSON-safe, redacted copies with fixed options (the hub builds one and
 * reuses it). The copies never throw: anything unreadable becomes a label.
 */
export function createRedactor(options: SafeJsonOptions = {}): (value: unknown) => unknown {
  const secret = secretKeyTest(options.redact);
  const maxDepth = options.maxDepth ?? 12;
  const maxArray = options.maxArray ?? 200;
  const maxKeys = options.maxKeys ?? 200;
  const maxString = options.maxString ?? 2000;
  return (value) => {
    try {
      return visit(value, 0, { secret, maxDepth, maxArray, maxKeys, maxString, seen: new Set() });
    } catch {
      return '[unreadable]';
    }
  };
}

/**
 * A JSON-safe, redacted copy of `value` (see {@link createRedactor}).
 *
 * @param value - a context, an event, any value
 */
export function toSafeJson(value: unknown, options: SafeJsonOptions = {}): unknown {
  return createRedactor(options)(value);
}

function visit(value: unknown, depth: number, walk: Walk): unknown {
  switch (typeof value) {
    case 'string':
      return value.length > walk.maxString ? `${value.slice(0, walk.maxString)}… (${value.length} chars)` : value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'undefined':
      return undefined;
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'function':
      return '[function]';
  }
  if (value === null) return null;
  const object = value as object;
  if (walk.seen.has(object)) return '[circular]';
  if (depth >= walk.maxDepth) return '[…]';

  if (Array.isArray(object)) {
    walk.seen.add(object);
    const length = Math.min(object.length, walk.maxArray);
    const out: unknown[] = new Array(length);
    for (let i = 0; i < length; i++) out[i] = visit(object[i], depth + 1, walk) ?? null;
    if (object.length > length) out.push(`… ${object.length - length} more`);
    walk.seen.delete(object);
    return out;
  }
  if (isActorRef(object)) return `[actor ${typeof object.id === 'string' ? object.id : object.sessionId}]`;
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
  if (object instanceof Error) {
    return { name: object.name, message: object.message, ...codeOf(object) };
  }
  if (object instanceof Map) {
    walk.seen.add(object);
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const [k, v] of object) {
      if (n++ >= walk.maxKeys) break;
      const key = String(k);
      out[key] = walk.secret(key) ? REDACTED : visit(v, depth + 1, walk);
    }
    walk.seen.delete(object);
    return out;
  }
  if (object instanceof Set) {
    return visit([...object], depth, walk);
  }
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return `[${object.constructor.name} ${object.byteLength} bytes]`;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    // A class instance (socket, timer, logger…): its internals are not state worth showing,
    // and may hold secrets or huge graphs. A `toJSON` (XState snapshots, URLs) is honoured.
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      walk.seen.add(object);
      const json = visit((toJSON as () => unknown).call(object), depth, walk);
      walk.seen.delete(object);
      return json;
    }
    return `[${(object.constructor as { name?: string } | undefined)?.name || 'object'}]`;
  }
  walk.seen.add(object);
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const key in object) {
    if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
    if (n++ >= walk.maxKeys) {
      out['…'] = 'more keys';
      break;
    }
    if (walk.secret(key)) {
      out[key] = REDACTED;
      continue;
    }
    const v = visit((object as Record<string, unknown>)[key], depth + 1, walk);
    if (v !== undefined) out[key] = v;
  }
  walk.seen.delete(object);
  return out;
}

function isActorRef(object: object): object is { id?: unknown; sessionId: string } {
  const ref = object as { sessionId?: unknown; send?: unknown; getSnapshot?: unknown };
  return typeof ref.sessionId === 'string' && typeof ref.send === 'function' && typeof ref.getSnapshot === 'function';
}

function codeOf(error: Error): { code?: string } {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { code } : {};
}
