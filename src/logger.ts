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

/**
 * Creates a root logger. `level` defaults to `info`; pass `destination` to capture lines in
 * tests (any writable stream or an object with `write(line)`).
 */
export function createLogger(options: { level?: string; name?: string; destination?: { write(line: string): void } } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(options.name ? { name: options.name } : {}),
  };
  return options.destination ? pino(config, options.destination as never) : pino(config);
}

/** A logger that writes nothing, for libraries used without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
