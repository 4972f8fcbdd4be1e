import { describe, expect, it } from 'vitest';
import { TetherError } from '../../src/protocol/errors.js';
import { API_KEY_PREFIX, generateApiKey, hashApiKey, verifyApiKey } from '../../src/cloud/apiKeys.js';

describe('api keys', () => {
  it('generates URL-safe keys with the tk_ prefix and 32 random bytes', () => {
    const key = generateApiKey();
    expect(key.startsWith(API_KEY_PREFIX)).toBe(true);
    const body = key.slice(API_KEY_PREFIX.length);
    expect(body).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(body, 'base64url')).toHaveLength(32);
  });

  it('generates a different key each time', () => {
    const keys = new Set(Array.from({ length: 100 }, generateApiKey));
    expect(keys.size).toBe(100);
  });

  it('stores a hash that does not contain the key', () => {
    const key = generateApiKey();
    const hash = hashApiKey(key);
    expect(hash).not.toContain(key.slice(API_KEY_PREFIX.length));
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('verifies the right key and refuses others', () => {
    const key = generateApiKey();
    const hash = hashApiKey(key);
    expect(verifyApiKey(key, hash)).toBe(true);
    expect(verifyApiKey(generateApiKey(), hash)).toBe(false);
    expect(verifyApiKey(key.slice(0, -1), hash)).toBe(false);
    expect(verifyApiKey(`${key}x`, hash)).toBe(false);
  });

  it('verifies keys that were not generated here (imported @mentra/sdk keys)', () => {
    expect(verifyApiKey('test-api-key-123456', hashApiKey('test-api-key-123456'))).toBe(true);
  });

  it('returns false instead of throwing on malformed input', () => {
    const hash = hashApiKey(generateApiKey());
    const badKeys: unknown[] = [undefined, null, 42, {}, '', 'x'.repeat(10_000)];
    for (const key of badKeys) expect(verifyApiKey(key, hash)).toBe(false);
    const badHashes: unknown[] = [undefined, null, '', 'sha256:', 'sha256:zz', `sha256:${'a'.repeat(63)}`, `md5:${'a'.repeat(64)}`, 7];
    for (const stored of badHashes) expect(verifyApiKey('tk_abc', stored)).toBe(false);
  });

  it('refuses to hash an empty key with BAD_REQUEST', () => {
    try {
      hashApiKey('');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TetherError);
      expect((error as TetherError).code).toBe('BAD_REQUEST');
    }
  });
});
