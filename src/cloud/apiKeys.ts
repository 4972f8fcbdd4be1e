/**
 * App API keys: generated once, shown once, stored only as a hash, checked in constant time.
 *
 * The hash is SHA-256, not scrypt or bcrypt. Slow hashes exist to protect low-entropy secrets
 * (passwords) against offline guessing; a generated key carries 256 random bits, so guessing
 * is hopeless at any hash speed, and a stolen hash table gives nothing away. A slow hash would
 * instead cost ~50 ms of CPU on every `tpa_connection_init`, during a reconnect storm after a
 * cloud restart, on the path the SDK gives only 5 s to answer. Keys imported from elsewhere
 * (a shorter `@mentra/sdk` test key) get the same hash; choosing them well is their owner's job.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TetherError } from '../protocol/errors.js';

/** Prefix of every generated key: makes keys recognizable in config files and secret scanners. */
export const API_KEY_PREFIX = 'tk_';

/** Random bytes in a generated key (32 bytes = 256 bits of entropy). */
const API_KEY_BYTES = 32;

/** Prefix of a stored hash; names the algorithm so another one can be added without ambiguity. */
const HASH_PREFIX = 'sha256:';

/**
 * Longest key {@link verifyApiKey} will hash, in characters. A generated key is 46; the cap
 * keeps a hostile 1 MiB "key" from costing a megabyte of hashing per attempt.
 */
const MAX_KEY_LENGTH = 512;

/** A new random API key: {@link API_KEY_PREFIX} + 32 random bytes in base64url (46 characters, URL-safe). */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(API_KEY_BYTES).toString('base64url');
}

/**
 * The form of `key` to store: `sha256:<64 hex digits>`. Deterministic (no salt needed: see the
 * module comment), so hashing the same key twice gives the same string.
 *
 * @throws TetherError `BAD_REQUEST` when `key` is empty or longer than 512 characters, since
 *   such a key could never be verified.
 */
export function hashApiKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new TetherError('BAD_REQUEST', 'An API key must be a non-empty string of at most 512 characters');
  }
  return HASH_PREFIX + digest(key).toString('hex');
}

/**
 * Whether `key` matches `storedHash` (made by {@link hashApiKey}). The comparison runs in
 * constant time over the fixed-size digests, so timing reveals nothing about how much of a
 * guess was right. Never throws: any malformed input (not a string, empty, too long, a hash
 * in an unknown format) is simply `false`.
 */
export function verifyApiKey(key: unknown, storedHash: unknown): boolean {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) return false;
  if (typeof storedHash !== 'string' || !storedHash.startsWith(HASH_PREFIX)) return false;
  const hex = storedHash.slice(HASH_PREFIX.length);
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  return timingSafeEqual(digest(key), Buffer.from(hex, 'hex'));
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}
