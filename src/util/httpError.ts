/**
 * The JSON body of a refused HTTP request, shared by the cloud's API and the inspector's
 * endpoints: `{ error: { code, category, message } }`, with the code's registered HTTP status.
 * (The SDK's app server answers webhooks in `@mentra/sdk`'s own shape instead.)
 */
import type { Response } from 'express';
import { errorInfo, type ErrorCode } from '../protocol/errors.js';

/**
 * Answers `res` with the error `code` and `message`, under the status the error registry gives
 * the code unless `status` says otherwise.
 */
export function sendError(res: Response, code: ErrorCode, message: string, status = errorInfo(code).httpStatus): void {
  res.status(status).json({ error: { code, category: errorInfo(code).category, message } });
}
