/**
 * The project's one root logger (pino). Secrets are redacted wherever they appear in bound
 * objects; every actor and session logs through a child with its ids bound.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line. */
const REDACTED_PATHS = [
  'apiKey',
  '*.apiKey',
  'coreToken',
  '*.coreToken',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/** Longest string value logged, in characters; a longer one is cut and says how long it was. */
export const MAX_LOGGED_STRING = 256;

/** Most items of an array logged; the rest are summed up in one last item. */
const MAX_LOGGED_ITEMS = 64;

/** Depth below which values are logged as they are (a log field is rarely deeper than two). */
const MAX_CAPPED_DEPTH = 6;

/**
 * `value` with every string longer than {@link MAX_LOGGED_STRING} cut and every array longer than
 * {@link MAX_LOGGED_ITEMS} shortened, in plain objects and arrays down to {@link MAX_CAPPED_DEPTH}
 * levels. Copies only what changes, so a line with nothing long costs one walk over its fields;
 * class instances (an `Error` for pino's serializer) are left as they are.
 */
function capped(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.length > MAX_LOGGED_STRING ? `${value.slice(0, MAX_LOGGED_STRING)}…[${value.length} chars]` : value;
  }
  if (value === null || typeof value !== 'object' || depth >= MAX_CAPPED_DEPTH) return value;
  if (Array.isArray(value)) {
    const items: unknown[] = value;
    let copy: unknown[] | undefined = items.length > MAX_LOGGED_ITEMS ? items.slice(0, MAX_LOGGED_ITEMS) : undefined;
    const shown = Math.min(items.length, MAX_LOGGED_ITEMS);
    for (let i = 0; i < shown; i++) {
      const item = capped(items[i], depth + 1);
      if (item !== items[i]) (copy ??= items.slice(0, shown))[i] = item;
    }
    if (items.length > MAX_LOGGED_ITEMS) copy!.push(`…[${items.length - MAX_LOGGED_ITEMS} more]`);
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const field = capped(record[key], depth + 1);
    if (field !== record[key]) (copy ??= { ...record })[key] = field;
  }
  return copy ?? value;
}

const cappedObject = (object: Record<string, unknown>): Record<string, unknown> => capped(object) as Record<string, unknown>;

/**
 * Creates a root logger. `level` defaults to `info`; pass `destination` to capture lines in
 * tests (any writable stream or an object with `write(line)`).
 */
export function createLogger(options: { level?: string; name?: string; destination?: { write(line: string): void } } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // A peer chooses many logged values (a package name, a reason): however long it sends them,
    // a line carries at most a few hundred characters of each (child bindings: see below).
    formatters: { log: cappedObject },
    ...(options.name ? { name: options.name } : {}),
  };
  const logger = options.destination ? pino(config, options.destination as never) : pino(config);
  // pino applies `formatters.bindings` to the root's bindings only, so children cap theirs here;
  // every child inherits this method from the root, grandchildren too.
  const { child } = Object.getPrototypeOf(logger) as { child: Logger['child'] };
  logger.child = function cappedChild(this: Logger, bindings, childOptions) {
    return child.call(this, cappedObject(bindings), childOptions);
  } as Logger['child'];
  return logger;
}

/** A logger that writes nothing, for libraries used without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
