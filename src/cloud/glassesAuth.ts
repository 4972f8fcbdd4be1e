/**
 * Glasses authentication: the core token is a JWT signed with HS256 and `TETHER_JWT_SECRET`,
 * whose `sub` is the user id. Verification goes through `jose` and never throws: a bad token is
 * an answer (`connection_error` + 4001), not an exception.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SignJWT, jwtVerify } from 'jose';
import { TetherError } from '../protocol/errors.js';

/** The only algorithm accepted; pinning it rules out `alg: none` and algorithm confusion. */
const ALGORITHM = 'HS256';

/** Default lifetime of a core token, in seconds (1 day). */
const DEFAULT_TOKEN_LIFETIME_S = 86_400;

/**
 * Longest lifetime of a core token {@link verifyCoreToken} accepts by default, in ms (30 days):
 * a token that outlives it could only be retired by rotating the secret.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_MS = 30 * 86_400_000;

/**
 * Longest token {@link verifyCoreToken} will parse, in characters. Real tokens are ~200; the cap
 * keeps a megabyte of garbage in `connection_init` from reaching base64 and JSON decoding.
 */
const MAX_TOKEN_LENGTH = 8_192;

/** Options of {@link createCoreToken}. */
export interface CreateCoreTokenOptions {
  /** Lifetime in seconds from now (default {@link DEFAULT_TOKEN_LIFETIME_S}). */
  expiresInSeconds?: number;
  /** Clock in epoch ms, for tests (default `Date.now`). */
  now?: () => number;
}

/** Options of {@link verifyCoreToken}. */
export interface VerifyCoreTokenOptions {
  /** Clock in epoch ms, for tests (default `Date.now`). */
  now?: () => number;
  /**
   * Longest lifetime accepted, in ms (default {@link DEFAULT_MAX_TOKEN_LIFETIME_MS}): a token
   * whose `exp` lies further than this after its `iat`, or after now, is `INVALID_TOKEN`.
   */
  maxLifetimeMs?: number;
}

/** Outcome of {@link verifyCoreToken}. */
export type CoreTokenResult =
  | { ok: true; userId: string }
  | { ok: false; code: 'INVALID_TOKEN' | 'TOKEN_EXPIRED'; message: string };

/**
 * Signs a core token for `userId`: HS256, `sub` = userId, `iat` now, `exp` after
 * `expiresInSeconds`.
 *
 * @param userId - the user the token authenticates (non-empty)
 * @param secret - the HMAC secret (`TETHER_JWT_SECRET`; config enforces ≥ 32 bytes)
 * @throws TetherError `INVALID_CONFIG` for an empty secret; `BAD_REQUEST` for an empty user id
 *   or a lifetime that is not a finite number of seconds.
 */
export async function createCoreToken(
  userId: string,
  secret: string,
  options: CreateCoreTokenOptions = {},
): Promise<string> {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new TetherError('INVALID_CONFIG', 'The JWT secret is empty');
  }
  if (typeof userId !== 'string' || userId.length === 0) {
    throw new TetherError('BAD_REQUEST', 'A core token needs a non-empty user id');
  }
  const lifetime = options.expiresInSeconds ?? DEFAULT_TOKEN_LIFETIME_S;
  if (!Number.isFinite(lifetime)) {
    throw new TetherError('BAD_REQUEST', 'expiresInSeconds must be a finite number of seconds');
  }
  const nowS = Math.floor((options.now ?? Date.now)() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + Math.round(lifetime))
    .sign(keyOf(secret));
}

/**
 * Verifies a core token. Bad signature, malformed token, another algorithm, a missing `sub`
 * or `exp`, a lifetime beyond `maxLifetimeMs` → `INVALID_TOKEN`; a valid token past its `exp`
 * → `TOKEN_EXPIRED` (the signature is checked first, so a forged expired token is
 * `INVALID_TOKEN`). Never throws.
 *
 * Tokens without `exp` are refused: this cloud never issues one, and a token that cannot
 * expire cannot be retired short of rotating the secret.
 */
export async function verifyCoreToken(
  token: unknown,
  secret: string,
  options: VerifyCoreTokenOptions = {},
): Promise<CoreTokenResult> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    return invalid('Token is missing or malformed');
  }
  if (typeof secret !== 'string' || secret.length === 0) return invalid('No secret to verify the token with');
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ['sub', 'exp'],
      currentDate: new Date((options.now ?? Date.now)()),
    });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) return invalid('Token has no subject');
    // Both bounds: a far-future `iat` must not make a far-future `exp` look short.
    const maxLifetimeS = (options.maxLifetimeMs ?? DEFAULT_MAX_TOKEN_LIFETIME_MS) / 1000;
    const exp = payload.exp ?? 0;
    const nowS = (options.now ?? Date.now)() / 1000;
    if (exp - nowS > maxLifetimeS || (typeof payload.iat === 'number' && exp - payload.iat > maxLifetimeS)) {
      return invalid('Token lifetime exceeds the maximum');
    }
    return { ok: true, userId: payload.sub };
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'ERR_JWT_EXPIRED') {
      return { ok: false, code: 'TOKEN_EXPIRED', message: 'Token expired' };
    }
    return invalid('Token is invalid');
  }
}

/**
 * The bearer token of an upgrade request (`Authorization: Bearer <token>`; the scheme is
 * case-insensitive), or `undefined` when there is none. The token may also come in
 * `connection_init.coreToken`; the caller decides which wins.
 */
export function tokenFromUpgrade(req: { readonly headers: IncomingHttpHeaders }): string | undefined {
  const header: unknown = req.headers.authorization;
  const value: unknown = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

function invalid(message: string): CoreTokenResult {
  return { ok: false, code: 'INVALID_TOKEN', message };
}
