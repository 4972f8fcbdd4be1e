/**
 * How the cloud's HTTP endpoints refuse a request: the coded error body of `sendError`, and one
 * `warn` line with the code, so every refusal is seen once (principle 7).
 */
import type { Request, Response } from 'express';
import type { ErrorCode } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { sendError } from '../util/httpError.js';

/** Answers `res` with `code` and `message` (the code's HTTP status unless `status` is given) and logs it. */
export function refuse(logger: Logger, req: Request, res: Response, code: ErrorCode, message: string, status?: number): void {
  logger.warn({ code, method: req.method, path: req.path, remoteAddress: req.socket.remoteAddress }, 'http request refused');
  sendError(res, code, message, status);
}

/** `field: problem; …` for a failed zod parse, `body` for a problem at the root. */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
}
