/**
 * Requests an app sent to its user's glasses that wait for an answer (photo, audio, LED,
 * location poll), by the id the cloud gave them on the glasses' side. The cloud never shows the
 * glasses an app's own id: each request gets a fresh random one, so glasses can answer only
 * what was asked of them, and two apps that pick the same id never receive each other's answer.
 *
 * Bounded: at most `maxPerSession` waiting per app session, each with one timer that ends it.
 * Everything of a session or a user can be dropped at once (its timers cleared), so nothing
 * outlives the app session or the glasses it belongs to.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** What an app asked the glasses for. */
export type GlassesRequestKind = 'photo' | 'audio' | 'led' | 'location';

/** One request waiting for the glasses. */
export interface PendingGlassesRequest {
  readonly kind: GlassesRequestKind;
  /** The id the glasses know it by (a random UUID). */
  readonly glassesRequestId: string;
  /** The app's own `requestId` (`correlationId` for a location poll): what its answer carries. */
  readonly appRequestId: string;
  readonly userId: string;
  readonly sessionId: string;
  readonly packageName: string;
  /** Generation of the glasses socket it was written to; another socket cannot answer it. */
  readonly glassesGen: number;
  /** Photos only: the bearer token the glasses' upload must carry. */
  readonly uploadToken?: string;
  /** When it was sent, `performance.now()` ms. */
  readonly sentAt: number;
}

/** Why a request ended without the glasses' answer. */
export type RequestEndReason = 'timeout' | 'glassesGone';

/** Options of {@link PendingGlassesRequests}. */
export interface PendingGlassesRequestsOptions {
  /** How long each kind waits for the glasses, in ms. */
  timeoutsMs: Readonly<Record<GlassesRequestKind, number>>;
  /** Most requests one app session may have waiting (count). */
  maxPerSession: number;
  /** Called once per request that ended without an answer (its timer fired, or its glasses went away). */
  onEnded(request: PendingGlassesRequest, reason: RequestEndReason): void;
}

interface Slot {
  readonly request: PendingGlassesRequest;
  readonly timer: NodeJS.Timeout;
}

/** The requests of one cloud waiting for glasses. */
export class PendingGlassesRequests {
  private readonly slots = new Map<string, Slot>();
  private readonly bySession = new Map<string, Set<string>>();
  private readonly byUser = new Map<string, Set<string>>();

  constructor(private readonly options: PendingGlassesRequestsOptions) {}

  /** Requests waiting, all sessions together. */
  get size(): number {
    return this.slots.size;
  }

  /** Requests waiting for one app session. */
  countFor(sessionId: string): number {
    return this.bySession.get(sessionId)?.size ?? 0;
  }

  /**
   * Starts waiting for the glasses' answer to a request, unless its session already has
   * `maxPerSession` waiting (then `undefined`: answer the app with `TOO_MANY_PENDING_REQUESTS`).
   */
  add(fields: Omit<PendingGlassesRequest, 'glassesRequestId' | 'uploadToken' | 'sentAt'>): PendingGlassesRequest | undefined {
    if (this.countFor(fields.sessionId) >= this.options.maxPerSession) return undefined;
    const request: PendingGlassesRequest = {
      ...fields,
      glassesRequestId: randomUUID(),
      ...(fields.kind === 'photo' ? { uploadToken: randomBytes(24).toString('base64url') } : {}),
      sentAt: performance.now(),
    };
    const timer = setTimeout(() => this.end(request.glassesRequestId, 'timeout'), this.options.timeoutsMs[request.kind]);
    // A request never keeps the process alive on its own.
    timer.unref();
    this.slots.set(request.glassesRequestId, { request, timer });
    indexAdd(this.bySession, request.sessionId, request.glassesRequestId);
    indexAdd(this.byUser, request.userId, request.glassesRequestId);
    return request;
  }

  /**
   * The glasses of `userId` answered `glassesRequestId` of `kind`: stops waiting and returns the
   * request, or `undefined` when there is no such request of theirs (unknown, answered before,
   * ended, another user's or another kind).
   */
  take(userId: string, kind: GlassesRequestKind, glassesRequestId: string): PendingGlassesRequest | undefined {
    const slot = this.slots.get(glassesRequestId);
    if (!slot || slot.request.userId !== userId || slot.request.kind !== kind) return undefined;
    this.remove(slot);
    return slot.request;
  }

  /** The photo request `glassesRequestId`, if `token` is its upload token: stops waiting and returns it. */
  takeUpload(glassesRequestId: string, token: string): PendingGlassesRequest | undefined {
    const slot = this.slots.get(glassesRequestId);
    if (!slot || slot.request.uploadToken === undefined || !sameText(slot.request.uploadToken, token)) return undefined;
    this.remove(slot);
    return slot.request;
  }

  /** The app session ended: forgets its requests without answering (nobody is left to answer). */
  dropSession(sessionId: string): void {
    for (const id of [...(this.bySession.get(sessionId) ?? [])]) {
      const slot = this.slots.get(id);
      if (slot) this.remove(slot);
    }
  }

  /**
   * The glasses socket `currentGen` (undefined: none) is the user's now: every request written
   * to another socket can no longer be answered and ends with `glassesGone`.
   */
  glassesChanged(userId: string, currentGen: number | undefined): void {
    const ids = this.byUser.get(userId);
    if (!ids) return;
    for (const id of [...ids]) {
      const slot = this.slots.get(id);
      if (slot && slot.request.glassesGen !== currentGen) this.end(id, 'glassesGone');
    }
  }

  /** Forgets everything without answering (shutdown). */
  clear(): void {
    for (const slot of [...this.slots.values()]) this.remove(slot);
  }

  private end(glassesRequestId: string, reason: RequestEndReason): void {
    const slot = this.slots.get(glassesRequestId);
    if (!slot) return;
    this.remove(slot);
    this.options.onEnded(slot.request, reason);
  }

  private remove(slot: Slot): void {
    clearTimeout(slot.timer);
    const { glassesRequestId, sessionId, userId } = slot.request;
    this.slots.delete(glassesRequestId);
    indexRemove(this.bySession, sessionId, glassesRequestId);
    indexRemove(this.byUser, userId, glassesRequestId);
  }
}

function indexAdd(index: Map<string, Set<string>>, key: string, id: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new Set()));
  ids.add(id);
}

function indexRemove(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (!ids) return;
  ids.delete(id);
  if (ids.size === 0) index.delete(key);
}

// Constant-time for equal lengths; the token's length is no secret.
function sameText(a: string, b: string): boolean {
  const given = Buffer.from(a);
  const wanted = Buffer.from(b);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
