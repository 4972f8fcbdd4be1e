/**
 * Photos, as `@mentra/sdk` 2.1.29 expects them (MENTRA-SDK-WIRE.md §7.4): its `camera.requestPhoto`
 * promise settles only when something POSTs multipart to the app server's `/photo-upload`
 * (`requestId`, `type`, `success`, `errorCode`, `errorMessage`, file `photo`).
 *
 * The glasses upload to the cloud (`POST /api/glasses/photo-upload`, the `webhookUrl` of their
 * `photo_request`, with its one-time `authToken`), and the cloud forwards the same fields under
 * the app's own `requestId` to the app server — found from its registered webhook URL and
 * dialled under the outbound policy, as webhooks are. The cloud also posts the `photo_error`
 * the SDK rejects on when the glasses fail, time out or are gone. So the glasses never learn
 * the app server's address, and an upload reaches only the app that asked.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { ErrorCode } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { sendError } from '../util/httpError.js';
import type { PendingGlassesRequest, PendingGlassesRequests } from './glassesRequests.js';
import type { HostLookup, OutboundPolicy } from './outboundPolicy.js';
import type { Store } from './store.js';
import { pinnedTransport, type Transport } from './webhookClient.js';

/** Where the glasses upload photos. */
export const PHOTO_UPLOAD_PATH = '/api/glasses/photo-upload';

/** Largest upload accepted, in bytes: `@mentra/sdk`'s own `/photo-upload` limit (10 MiB) plus room for the form fields. */
const MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024 + 65_536;

/** What one photo request ended with, as the app server's `/photo-upload` takes it. */
export type PhotoOutcome =
  | { ok: true; photo: Blob; filename: string }
  | { ok: false; errorCode: string; errorMessage: string };

/** Options of {@link PhotoForwarder}. */
export interface PhotoForwarderOptions {
  store: Store;
  outbound: { policy: OutboundPolicy; lookup?: HostLookup };
  logger: Logger;
  /** Time allowed for the app server's answer, in ms. */
  timeoutMs: number;
}

/** Posts photo outcomes to app servers. */
export class PhotoForwarder {
  private readonly transport: Transport;

  constructor(private readonly options: PhotoForwarderOptions) {
    this.transport = pinnedTransport(options.outbound.policy, options.outbound.lookup);
  }

  /**
   * POSTs `outcome` for `request` to its app server's `/photo-upload`. Never rejects; resolves
   * with the app server's status (0 when it could not be reached or the app is unknown).
   */
  async forward(request: Pick<PendingGlassesRequest, 'packageName' | 'sessionId' | 'appRequestId'>, outcome: PhotoOutcome): Promise<number> {
    const { packageName, sessionId, appRequestId } = request;
    const log = this.options.logger.child({ packageName, sessionId, requestId: appRequestId });
    const app = await this.options.store.getApp(packageName);
    const target = app ? photoUploadUrlOf(app.webhookUrl) : undefined;
    if (!target) {
      log.warn({ code: 'NOT_FOUND' }, 'photo not forwarded: the app has no server url');
      return 0;
    }
    const form = new FormData();
    form.set('requestId', appRequestId);
    if (outcome.ok) {
      form.set('type', 'photo_response');
      form.set('success', 'true');
      form.set('photo', outcome.photo, outcome.filename);
    } else {
      form.set('type', 'photo_error');
      form.set('success', 'false');
      form.set('errorCode', outcome.errorCode);
      form.set('errorMessage', outcome.errorMessage);
    }
    // The Fetch API writes the multipart body and its boundary; the pinned transport sends bytes.
    const encoded = new Response(form);
    const body = new Uint8Array(await encoded.arrayBuffer());
    const headers = { 'content-type': encoded.headers.get('content-type') ?? 'multipart/form-data' };
    try {
      const response = await this.transport(target, { headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
      await response.body?.cancel();
      const level = response.ok ? 'debug' : 'warn';
      log[level]({ status: response.status, photoType: outcome.ok ? 'photo_response' : 'photo_error' }, 'photo forwarded to the app server');
      return response.status;
    } catch (error) {
      log.warn({ code: 'WEBHOOK_FAILED', err: error instanceof Error ? error.message : String(error) }, 'photo not forwarded: the app server did not answer');
      return 0;
    }
  }
}

/**
 * The app server's `/photo-upload` beside its webhook: `…/webhook` becomes `…/photo-upload`
 * (an app mounted under a prefix keeps it); any other path, the origin's `/photo-upload`.
 */
function photoUploadUrlOf(webhookUrl: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(webhookUrl);
  } catch {
    return undefined;
  }
  const path = url.pathname.endsWith('/webhook') ? `${url.pathname.slice(0, -'/webhook'.length)}/photo-upload` : '/photo-upload';
  return new URL(path, url.origin);
}

/** What the upload endpoint needs. */
export interface PhotoUploadRouteDeps {
  pending: PendingGlassesRequests;
  forwarder: PhotoForwarder;
  logger: Logger;
}

/**
 * `POST /api/glasses/photo-upload`: the glasses' answer to a `photo_request`, multipart with the
 * fields of the SDK's `/photo-upload` and `Authorization: Bearer <authToken>` of that request.
 * An unknown, answered or expired request and a wrong token get the same 404. The answer waits
 * for the app server's: 200 when it took the photo, 502 `WEBHOOK_FAILED` when it did not.
 */
export function photoUploadRoute(deps: PhotoUploadRouteDeps): RequestHandler {
  const refuse = (req: Request, res: Response, code: ErrorCode, message: string) => {
    deps.logger.warn({ code, path: req.path, remoteAddress: req.socket.remoteAddress }, 'photo upload refused');
    sendError(res, code, message);
  };
  return async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const contentType = req.headers['content-type'] ?? '';
    if (!token) return refuse(req, res, 'UNAUTHORIZED', 'The photo_request authToken is required as a bearer token');
    if (!contentType.startsWith('multipart/form-data')) return refuse(req, res, 'BAD_REQUEST', 'Body must be multipart/form-data');
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_PHOTO_UPLOAD_BYTES) return refuse(req, res, 'MESSAGE_TOO_LARGE', `Upload exceeds ${MAX_PHOTO_UPLOAD_BYTES} bytes`);
    const raw = await readCapped(req, MAX_PHOTO_UPLOAD_BYTES);
    if (raw === undefined) return refuse(req, res, 'MESSAGE_TOO_LARGE', `Upload exceeds ${MAX_PHOTO_UPLOAD_BYTES} bytes`);
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    } catch {
      return refuse(req, res, 'BAD_REQUEST', 'Body is not a readable multipart form');
    }
    const requestId = form.get('requestId');
    const request = typeof requestId === 'string' ? deps.pending.takeUpload(requestId, token) : undefined;
    if (!request) return refuse(req, res, 'NOT_FOUND', 'No photo request waits for this upload');
    const photo = form.get('photo');
    const failed = form.get('type') === 'photo_error' || form.get('success') === 'false';
    let outcome: PhotoOutcome;
    if (!failed && photo instanceof Blob && photo.type.startsWith('image/')) {
      outcome = { ok: true, photo, filename: (photo as File).name || 'photo.jpg' };
    } else {
      const code = form.get('errorCode');
      const message = form.get('errorMessage');
      outcome = {
        ok: false,
        errorCode: typeof code === 'string' && code ? code : 'UNKNOWN_ERROR',
        errorMessage: typeof message === 'string' && message ? message : failed ? 'The glasses could not take the photo' : 'The upload held no image',
      };
    }
    const status = await deps.forwarder.forward(request, outcome);
    if (status >= 200 && status < 300) res.json({ success: true, requestId });
    else sendError(res, 'WEBHOOK_FAILED', 'The app server did not take the photo', 502);
  };
}

/** The request body, or `undefined` once it passes `maxBytes` (the rest is not read). */
async function readCapped(req: Request, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the request: a peer that streams past the cap gets no answer.
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
