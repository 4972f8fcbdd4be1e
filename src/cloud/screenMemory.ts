/**
 * Screen memory (issue 11 §3): what each app last showed its user, per view (`main`,
 * `dashboard`), so glasses that come back — a reconnect in grace, a network switch, a restarted
 * cloud — can be shown the current screen again instead of a blank one (`@mentra/sdk` never
 * re-sends a display on reconnect: MENTRA-SDK-WIRE.md §4.1).
 *
 * Written on the data plane with plain map writes (ARCHITECTURE.md, principle 1): one entry per
 * (app session, view), replaced by each new display. Bounded three ways: screens per user,
 * bytes per user and bytes for the whole process; over a bound the screen drawn longest ago goes
 * first. A display too large for a user's bound is not kept, and the one it replaced is dropped
 * too (it is no longer what the app shows). An app session that ends loses its screens, a user
 * session that ends loses all of its user's ({@link ScreenMemory.observe}).
 *
 * Durations: a display with `durationMs` is remembered with its deadline (wall time, so it
 * survives a restart). Once the deadline has passed it is not restored — the glasses took it
 * down — and a restored one carries only the time it has left. A display with no duration stays
 * until the app replaces it.
 */
import type { InspectionEvent } from 'xstate';
import { appSessionIdOfSystemId, systemIdOf, userIdOfSystemId } from '../../machines/sessionApi.js';
import { ViewType, type View } from '../protocol/layouts.js';
import type { ScreenRecord } from './store.js';

/**
 * Most screens kept per user (count): two views for each of `maxRunningApps`' default 32 apps.
 * With {@link ScreenMemoryOptions.maxBytesPerUser} it bounds what one user can make the cloud
 * keep, whatever its apps draw.
 */
export const MAX_SCREENS_PER_USER = 64;

/** A `display_event` as the cloud forwards it to the glasses, attributed to its app session. */
export interface DisplayFrame {
  readonly type: 'display_event';
  readonly packageName: string;
  /** The app session that drew it (the socket's, never the frame's own field). */
  readonly sessionId: string;
  readonly view?: View | undefined;
  /** How long the layout stays up, in ms; absent: until replaced. */
  readonly durationMs?: number | undefined;
  readonly [field: string]: unknown;
}

/** One remembered screen: an app session's latest display in one view. */
export interface Screen {
  readonly userId: string;
  readonly sessionId: string;
  readonly view: View;
  readonly frame: DisplayFrame;
  /** Size the screen is counted with, in bytes (its frame as it arrived). */
  readonly bytes: number;
  /** Drawing order across the process (and, persisted, across restarts); larger is newer. */
  readonly seq: number;
  /** When it was drawn, wall time in ms. */
  readonly shownAt: number;
  /** When its `durationMs` runs out, wall time in ms; undefined: shown until replaced. */
  readonly expiresAt: number | undefined;
}

/** Where the memory reports each change, so a writer can keep the store in step (`screenWriter.ts`). */
export interface ScreenSink {
  /** `screen` is now the current one of its (session, view). */
  put(screen: Screen): void;
  /** The (session, view) has no remembered screen any more (`view` as stored: any string). */
  remove(sessionId: string, view: string): void;
}

/** Options of a {@link ScreenMemory}. */
export interface ScreenMemoryOptions {
  /** Most bytes of screens kept per user (the `screenMemoryMaxBytes` setting). */
  maxBytesPerUser: number;
  /** Most bytes of screens kept by the whole process (the `screenMemoryBudgetBytes` setting). */
  budgetBytes: number;
  /** Most screens kept per user (count); {@link MAX_SCREENS_PER_USER} by default. */
  maxScreensPerUser?: number;
  /** Wall clock in ms (deadlines of timed displays); `Date.now` unless a test injects one. */
  now?: () => number;
  /** Told of every change; none by default. */
  sink?: ScreenSink;
}

/** Counters since the memory was created, for tests and logs. */
export interface ScreenMemoryStats {
  /** Screens dropped to stay within a bound, before their app replaced them. */
  evicted: number;
  /** Displays too large for a user's bound, never kept. */
  refused: number;
}

interface UserScreens {
  /** By key, in drawing order (a redraw moves its entry to the end). */
  readonly screens: Map<string, Screen>;
  bytes: number;
}

const VIEWS: readonly View[] = [ViewType.MAIN, ViewType.DASHBOARD];

function keyOf(sessionId: string, view: View): string {
  return `${sessionId}\u0000${view}`;
}

function isView(value: string): value is View {
  return (VIEWS as readonly string[]).includes(value);
}

/** The last display of every app session and view, bounded; one per cloud. */
export class ScreenMemory {
  private readonly maxBytesPerUser: number;
  private readonly budgetBytes: number;
  private readonly maxScreensPerUser: number;
  private readonly now: () => number;
  private readonly sink: ScreenSink | undefined;
  /** Every screen, in drawing order across users: the first is the one the budget drops first. */
  private readonly all = new Map<string, Screen>();
  private readonly users = new Map<string, UserScreens>();
  private total = 0;
  private nextSeq = 1;
  private readonly counters: ScreenMemoryStats = { evicted: 0, refused: 0 };

  constructor(options: ScreenMemoryOptions) {
    this.maxBytesPerUser = options.maxBytesPerUser;
    this.budgetBytes = options.budgetBytes;
    this.maxScreensPerUser = options.maxScreensPerUser ?? MAX_SCREENS_PER_USER;
    this.now = options.now ?? Date.now;
    this.sink = options.sink;
  }

  /** Bytes held by every screen together. */
  get bytes(): number {
    return this.total;
  }

  /** Screens held. */
  get size(): number {
    return this.all.size;
  }

  /** Counters since creation (a copy). */
  get stats(): ScreenMemoryStats {
    return { ...this.counters };
  }

  /**
   * Remembers `frame` as the current screen of its session in its view (`main` when it names
   * none). Called for every display an app's adopted socket sends, on the data plane.
   *
   * @param bytes - size to count it with: the frame's length as it arrived
   */
  record(userId: string, frame: DisplayFrame, bytes: number): void {
    const view = frame.view ?? ViewType.MAIN;
    const shownAt = this.now();
    const { durationMs } = frame;
    const expiresAt = typeof durationMs === 'number' && Number.isFinite(durationMs) ? shownAt + durationMs : undefined;
    this.insert({ userId, sessionId: frame.sessionId, view, frame, bytes, seq: this.nextSeq++, shownAt, expiresAt }, 'drawn');
  }

  /** Whether `userId` has any remembered screen (a cheap test before scheduling a restore). */
  has(userId: string): boolean {
    return this.users.has(userId);
  }

  /**
   * The frames that show `userId`'s current screens again, oldest drawn first, so each view ends
   * on its latest: one per (session, view) for each session `isCurrent` accepts. Timed displays
   * carry the time they have left; those whose time is up are dropped instead.
   */
  screensOf(userId: string, isCurrent: (sessionId: string) => boolean): DisplayFrame[] {
    const user = this.users.get(userId);
    if (!user) return [];
    const now = this.now();
    const frames: DisplayFrame[] = [];
    const expired: Screen[] = [];
    for (const screen of user.screens.values()) {
      if (screen.expiresAt !== undefined && screen.expiresAt <= now) expired.push(screen);
      else if (isCurrent(screen.sessionId)) frames.push(frameAt(screen, now));
    }
    for (const screen of expired) this.drop(screen);
    return frames;
  }

  /** Forgets the screens of app session `sessionId` (it ended). */
  forgetSession(sessionId: string): void {
    for (const view of VIEWS) {
      const screen = this.all.get(keyOf(sessionId, view));
      if (screen) this.drop(screen);
    }
  }

  /** Forgets every screen of `userId` (their session ended). */
  forgetUser(userId: string): void {
    const user = this.users.get(userId);
    if (!user) return;
    for (const screen of [...user.screens.values()]) this.drop(screen);
  }

  /**
   * Inspection observer that forgets an app session's screens when its `appSession` actor stops
   * (final state, error, or stopped by its parent) and a user's when its `userSession` does.
   * Pass it with the cloud's other inspectors; at shutdown close the sink first
   * (`ScreenWriter.close`), so stopping every actor does not erase what the next process restores.
   */
  readonly observe = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.snapshot') return;
    if ((event.snapshot as { status?: string }).status === 'active') return;
    const systemId = systemIdOf(event.actorRef);
    const sessionId = appSessionIdOfSystemId(systemId);
    if (sessionId !== undefined) return this.forgetSession(sessionId);
    const userId = userIdOfSystemId(systemId);
    if (userId !== undefined) this.forgetUser(userId);
  };

  /**
   * Takes in screens a previous process persisted (cloud start, after the sessions were
   * restored). Only those of a session `isLive` accepts and whose time is not up come back, in
   * their drawing order and within this memory's bounds; every other one is removed through the
   * sink. Returns how many were kept.
   */
  load(stored: readonly ScreenRecord[], isLive: (userId: string, sessionId: string) => boolean): number {
    const now = this.now();
    let kept = 0;
    for (const row of [...stored].sort((a, b) => a.seq - b.seq)) {
      this.nextSeq = Math.max(this.nextSeq, row.seq + 1);
      const frame = parseFrame(row.json);
      const usable =
        frame !== undefined &&
        isView(row.view) &&
        frame.sessionId === row.sessionId &&
        (row.expiresAt === undefined || row.expiresAt > now) &&
        isLive(row.userId, row.sessionId);
      if (!usable) {
        this.sink?.remove(row.sessionId, row.view);
        continue;
      }
      const screen: Screen = {
        userId: row.userId,
        sessionId: row.sessionId,
        view: row.view,
        frame,
        bytes: Buffer.byteLength(row.json),
        seq: row.seq,
        shownAt: row.shownAt,
        expiresAt: row.expiresAt,
      };
      // Already in the store as it is: only what the bounds drop is written back.
      if (this.insert(screen, 'stored')) kept++;
    }
    return kept;
  }

  /**
   * Puts `screen` in, evicting older screens to stay within the bounds; returns whether it was
   * kept. A `drawn` screen is reported to the sink; a `stored` one is already in the store.
   */
  private insert(screen: Screen, origin: 'drawn' | 'stored'): boolean {
    const key = keyOf(screen.sessionId, screen.view);
    const previous = this.all.get(key);
    if (previous) this.unlink(previous, key);
    if (screen.bytes > this.maxBytesPerUser || screen.bytes > this.budgetBytes) {
      this.counters.refused++;
      // What the store holds for this (session, view) is no longer the app's current screen.
      if (previous || origin === 'stored') this.sink?.remove(screen.sessionId, screen.view);
      return false;
    }
    let user = this.users.get(screen.userId);
    if (!user) {
      user = { screens: new Map(), bytes: 0 };
      this.users.set(screen.userId, user);
    }
    user.screens.set(key, screen);
    user.bytes += screen.bytes;
    this.all.set(key, screen);
    this.total += screen.bytes;
    if (origin === 'drawn') this.sink?.put(screen);
    // The new screen is the newest and fits every bound alone, so these stop before reaching it.
    while (user.bytes > this.maxBytesPerUser || user.screens.size > this.maxScreensPerUser) {
      this.evict(user.screens.values().next().value as Screen);
    }
    while (this.total > this.budgetBytes) this.evict(this.all.values().next().value as Screen);
    return true;
  }

  private evict(screen: Screen): void {
    this.counters.evicted++;
    this.drop(screen);
  }

  private drop(screen: Screen): void {
    this.unlink(screen, keyOf(screen.sessionId, screen.view));
    this.sink?.remove(screen.sessionId, screen.view);
  }

  private unlink(screen: Screen, key: string): void {
    this.all.delete(key);
    this.total -= screen.bytes;
    const user = this.users.get(screen.userId);
    if (!user) return;
    user.screens.delete(key);
    user.bytes -= screen.bytes;
    if (user.screens.size === 0) this.users.delete(screen.userId);
  }
}

/** The frame that shows `screen` at `now`: as drawn, or with what is left of its duration. */
function frameAt(screen: Screen, now: number): DisplayFrame {
  if (screen.expiresAt === undefined) return screen.frame;
  return { ...screen.frame, durationMs: Math.ceil(screen.expiresAt - now) };
}

/** A persisted frame, or undefined if it is not one (a damaged row must not stop a restart). */
function parseFrame(json: string): DisplayFrame | undefined {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null) return undefined;
    const frame = value as Partial<DisplayFrame>;
    return frame.type === 'display_event' && typeof frame.sessionId === 'string' && typeof frame.packageName === 'string'
      ? (frame as DisplayFrame)
      : undefined;
  } catch {
    return undefined;
  }
}
