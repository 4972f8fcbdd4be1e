import { describe, expect, it } from 'vitest';
import {
  AUTH_ERROR_CODES,
  CloseCode,
  ERROR_CODES,
  errorInfo,
  isErrorCode,
  isSendableCloseCode,
  TetherError,
} from '../../src/protocol/index.js';
import type { ErrorCode } from '../../src/protocol/index.js';

const categories = ['connection', 'auth', 'format', 'internal', 'system'];

describe('error registry', () => {
  it('gives every AUTH_ERROR_CODES entry the auth category', () => {
    for (const code of AUTH_ERROR_CODES) expect(errorInfo(code).category).toBe('auth');
  });

  it('lists every auth-category code in AUTH_ERROR_CODES', () => {
    const authCodes = ERROR_CODES.filter((code) => errorInfo(code).category === 'auth');
    expect([...authCodes].sort()).toEqual([...AUTH_ERROR_CODES].sort());
  });

  it('closes glasses token failures with 4001 and app credential failures with 1008', () => {
    expect(errorInfo('INVALID_TOKEN').closeCode).toBe(CloseCode.AUTH_FAILED);
    expect(errorInfo('TOKEN_EXPIRED').closeCode).toBe(CloseCode.AUTH_FAILED);
    expect(errorInfo('INVALID_API_KEY').closeCode).toBe(CloseCode.POLICY_VIOLATION);
    expect(errorInfo('UNKNOWN_PACKAGE').closeCode).toBe(CloseCode.POLICY_VIOLATION);
    expect(errorInfo('SESSION_NOT_FOUND').closeCode).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('answers auth failures with HTTP 401', () => {
    for (const code of AUTH_ERROR_CODES) expect(errorInfo(code).httpStatus).toBe(401);
  });

  it('holds the codes the protocol names, with their categories', () => {
    const expected: Record<string, string> = {
      INVALID_JSON: 'format',
      MISSING_TYPE: 'format',
      UNKNOWN_TYPE: 'format',
      INVALID_FIELDS: 'format',
      MESSAGE_TOO_LARGE: 'format',
      CONNECT_TIMEOUT: 'connection',
      CONNECTION_FAILED: 'connection',
      CONNECTION_CLOSED: 'connection',
      RECONNECT_EXHAUSTED: 'connection',
      HEARTBEAT_TIMEOUT: 'connection',
      NOT_CONNECTED: 'connection',
      OUTBOX_OVERFLOW: 'connection',
      RATE_LIMITED: 'system',
      INVALID_CONFIG: 'system',
      ACTOR_NOT_PROVIDED: 'system',
      WEBHOOK_FAILED: 'system',
      UNAUTHORIZED: 'system',
      NOT_FOUND: 'system',
      BAD_REQUEST: 'system',
      INTERNAL_ERROR: 'internal',
      HANDLER_FAILED: 'internal',
    };
    for (const [code, category] of Object.entries(expected)) {
      expect(isErrorCode(code)).toBe(true);
      expect(errorInfo(code as ErrorCode).category).toBe(category);
    }
  });

  it('uses the HTTP statuses the protocol names', () => {
    expect(errorInfo('RATE_LIMITED').httpStatus).toBe(429);
    expect(errorInfo('UNAUTHORIZED').httpStatus).toBe(401);
    expect(errorInfo('NOT_FOUND').httpStatus).toBe(404);
    expect(errorInfo('BAD_REQUEST').httpStatus).toBe(400);
    expect(errorInfo('INTERNAL_ERROR').httpStatus).toBe(500);
  });

  it('gives every code a known category, an error HTTP status, text and a sendable close code', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(0);
    for (const code of ERROR_CODES) {
      const info = errorInfo(code);
      expect(categories).toContain(info.category);
      expect(info.httpStatus).toBeGreaterThanOrEqual(400);
      expect(info.httpStatus).toBeLessThan(600);
      expect(info.message.length).toBeGreaterThan(0);
      if (info.closeCode !== undefined) expect(isSendableCloseCode(info.closeCode)).toBe(true);
    }
  });

  it('rejects strings that are not registered codes', () => {
    for (const value of ['', 'invalid_json', '__proto__', 'toString', 42, null]) expect(isErrorCode(value)).toBe(false);
  });
});

describe('TetherError', () => {
  it('carries the code and the category of the registry', () => {
    const error = new TetherError('SESSION_NOT_FOUND');
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('SESSION_NOT_FOUND');
    expect(error.category).toBe('auth');
    expect(error.message).toBe(errorInfo('SESSION_NOT_FOUND').message);
    expect(error.name).toBe('TetherError');
    expect(error.details).toBeUndefined();
  });

  it('keeps a caller message and details', () => {
    const error = new TetherError('OUTBOX_OVERFLOW', 'dropped display_event', { dropped: 1 });
    expect(error.code).toBe('OUTBOX_OVERFLOW');
    expect(error.category).toBe('connection');
    expect(error.message).toBe('dropped display_event');
    expect(error.details).toEqual({ dropped: 1 });
  });
});
