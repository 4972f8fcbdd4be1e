import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createCoreToken, tokenFromUpgrade, verifyCoreToken } from '../../src/cloud/glassesAuth.js';

const secret = 'a-test-secret-of-at-least-32-bytes!!';
const key = new TextEncoder().encode(secret);

function codeOf(result: Awaited<ReturnType<typeof verifyCoreToken>>): string {
  return result.ok ? 'ok' : result.code;
}

describe('glasses auth', () => {
  it('round-trips a user id', async () => {
    const token = await createCoreToken('alice@example.com', secret, { expiresInSeconds: 60 });
    expect(await verifyCoreToken(token, secret)).toEqual({ ok: true, userId: 'alice@example.com' });
  });

  it('signs HS256 with sub, iat and exp', async () => {
    const now = 1_700_000_000_000;
    const token = await createCoreToken('alice', secret, { expiresInSeconds: 60, now: () => now });
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'HS256' });
    expect(payload).toEqual({ sub: 'alice', iat: now / 1000, exp: now / 1000 + 60 });
  });

  it('reports an expired token as TOKEN_EXPIRED', async () => {
    const hourAgo = Date.now() - 3_600_000;
    const token = await createCoreToken('alice', secret, { expiresInSeconds: 60, now: () => hourAgo });
    expect(codeOf(await verifyCoreToken(token, secret))).toBe('TOKEN_EXPIRED');
  });

  it('honours the injected clock when verifying', async () => {
    const token = await createCoreToken('alice', secret, { expiresInSeconds: 60 });
    expect(codeOf(await verifyCoreToken(token, secret, { now: () => Date.now() + 120_000 }))).toBe('TOKEN_EXPIRED');
  });

  it('reports a bad signature as INVALID_TOKEN', async () => {
    const token = await createCoreToken('alice', 'another-secret-of-at-least-32-bytes!!', { expiresInSeconds: 60 });
    expect(codeOf(await verifyCoreToken(token, secret))).toBe('INVALID_TOKEN');
  });

  it('reports an expired token with a bad signature as INVALID_TOKEN', async () => {
    const hourAgo = Date.now() - 3_600_000;
    const token = await createCoreToken('alice', 'another-secret-of-at-least-32-bytes!!', { expiresInSeconds: 60, now: () => hourAgo });
    expect(codeOf(await verifyCoreToken(token, secret))).toBe('INVALID_TOKEN');
  });

  it('reports a token without sub as INVALID_TOKEN', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);
    expect(codeOf(await verifyCoreToken(token, secret))).toBe('INVALID_TOKEN');
  });

  it('reports a token without exp as INVALID_TOKEN', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(key);
    expect(codeOf(await verifyCoreToken(token, secret))).toBe('INVALID_TOKEN');
  });

  it('reports another algorithm as INVALID_TOKEN', async () => {
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('alice').setExpirationTime('1h').sign(
      new TextEncoder().encode(secret.repeat(2)),
    );
    expect(codeOf(await verifyCoreToken(hs512, secret.repeat(2)))).toBe('INVALID_TOKEN');
    const unsecured = new UnsecuredJWT({}).setSubject('alice').setExpirationTime('1h').encode();
    expect(codeOf(await verifyCoreToken(unsecured, secret))).toBe('INVALID_TOKEN');
  });

  it('reports malformed input as INVALID_TOKEN without throwing', async () => {
    const inputs: unknown[] = [undefined, null, 42, '', 'garbage', 'a.b.c', '...', 'x'.repeat(100_000), { token: 1 }];
    for (const input of inputs) expect(codeOf(await verifyCoreToken(input, secret))).toBe('INVALID_TOKEN');
    const token = await createCoreToken('alice', secret);
    expect(codeOf(await verifyCoreToken(token, ''))).toBe('INVALID_TOKEN');
  });

  describe('tokenFromUpgrade', () => {
    it('reads a bearer token, whatever the scheme case', () => {
      expect(tokenFromUpgrade({ headers: { authorization: 'Bearer abc.def.ghi' } })).toBe('abc.def.ghi');
      expect(tokenFromUpgrade({ headers: { authorization: 'bearer   abc' } })).toBe('abc');
    });

    it('returns undefined without a bearer token', () => {
      expect(tokenFromUpgrade({ headers: {} })).toBeUndefined();
      expect(tokenFromUpgrade({ headers: { authorization: 'Basic dXNlcjpwYXNz' } })).toBeUndefined();
      expect(tokenFromUpgrade({ headers: { authorization: 'Bearer' } })).toBeUndefined();
      expect(tokenFromUpgrade({ headers: { authorization: 'Bearer a b' } })).toBeUndefined();
    });
  });
});
