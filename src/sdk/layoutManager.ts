/**
 * `session.layouts`: builds the `display_event` frames an app sends to show something on the
 * glasses, field for field as `@mentra/sdk` 2.1 builds them (MENTRA-SDK-WIRE §4.1), so a cloud
 * written for either SDK sees the same frames.
 */

import { TetherError } from '../protocol/errors.js';

/** Where a layout is shown: the main view, or the dashboard the wearer looks up to. */
export type ViewType = 'main' | 'dashboard';

/** One block of text. */
export interface TextWall {
  layoutType: 'text_wall';
  text: string;
}

/** Two blocks of text, one above the other. */
export interface DoubleTextWall {
  layoutType: 'double_text_wall';
  topText: string;
  bottomText: string;
}

/** A card with a title and a body. */
export interface ReferenceCard {
  layoutType: 'reference_card';
  title: string;
  text: string;
}

/** A label/value pair for the dashboard. */
export interface DashboardCard {
  layoutType: 'dashboard_card';
  leftText: string;
  rightText: string;
}

/** Clears the view. */
export interface ClearView {
  layoutType: 'clear_view';
}

/** Every layout this manager produces. */
export type Layout = TextWall | DoubleTextWall | ReferenceCard | DashboardCard | ClearView;

/** The `display_event` frame, app → cloud. */
export interface DisplayRequest {
  /** Creation time, ISO 8601 (what `@mentra/sdk`'s `Date` becomes on the wire). */
  timestamp: string;
  /**
   * Always `""`, as `@mentra/sdk` sends it: the cloud attributes display events to the
   * socket's session, never to this field.
   */
  sessionId: '';
  type: 'display_event';
  packageName: string;
  view: ViewType;
  layout: Layout;
  /** How long to show the layout, in ms; absent when not given (the cloud's default applies). */
  durationMs?: number;
}

/** Options of the `show*` methods. */
export interface DisplayOptions {
  /** Target view; `main` by default (`dashboard` for {@link LayoutManager.showDashboardCard}). */
  view?: ViewType;
  /** How long to show the layout, in ms (a finite number ≥ 0). */
  durationMs?: number;
}

/** Options of {@link LayoutManager.clearView}. */
export interface ClearViewOptions {
  /** The view to clear; `main` by default. */
  view?: ViewType;
}

/** Wiring of a {@link LayoutManager} into its session. */
export interface LayoutManagerOptions {
  /** The app's package name, copied into every frame. */
  packageName: string;
  /** Sends (or queues, while reconnecting) one frame. */
  send(message: DisplayRequest): void;
}

/**
 * Builds display frames and hands them to the session's `send`. Invalid options (an unknown
 * view, a negative or non-finite duration, non-string text) throw a `TetherError` with code
 * `INVALID_FIELDS` (the frame's fields would be invalid) instead of being silently corrected, so the mistake shows up where it was
 * made; the exception is {@link showTextWall}, which converts its text to a string as
 * `@mentra/sdk` does, because apps rely on `showTextWall(count)` working.
 */
export class LayoutManager {
  private readonly packageName: string;
  private readonly send: (message: DisplayRequest) => void;

  /** @param options - see {@link LayoutManagerOptions}. */
  constructor(options: LayoutManagerOptions) {
    this.packageName = options.packageName;
    this.send = (message) => options.send(message);
  }

  /**
   * Shows one block of text. `null`/`undefined` show as an empty wall and other non-strings
   * are converted with `String()`, as in `@mentra/sdk`.
   */
  showTextWall(text: string, options?: DisplayOptions): void {
    // Untyped callers pass other values (`showTextWall(count)`, null): `String()` them as `@mentra/sdk` does.
    const coerced = text === undefined || text === null ? '' : String(text);
    this.display({ layoutType: 'text_wall', text: coerced }, options?.view ?? 'main', options?.durationMs);
  }

  /** Shows two blocks of text, one above the other. */
  showDoubleTextWall(topText: string, bottomText: string, options?: DisplayOptions): void {
    requireString('topText', topText);
    requireString('bottomText', bottomText);
    this.display({ layoutType: 'double_text_wall', topText, bottomText }, options?.view ?? 'main', options?.durationMs);
  }

  /** Shows a card with a title and a body. */
  showReferenceCard(title: string, text: string, options?: DisplayOptions): void {
    requireString('title', title);
    requireString('text', text);
    this.display({ layoutType: 'reference_card', title, text }, options?.view ?? 'main', options?.durationMs);
  }

  /** Shows a label/value card; on the dashboard unless `options.view` says otherwise. */
  showDashboardCard(leftText: string, rightText: string, options?: DisplayOptions): void {
    requireString('leftText', leftText);
    requireString('rightText', rightText);
    this.display({ layoutType: 'dashboard_card', leftText, rightText }, options?.view ?? 'dashboard', options?.durationMs);
  }

  /** Clears a view (`main` by default). */
  clearView(options?: ClearViewOptions): void {
    this.display({ layoutType: 'clear_view' }, options?.view ?? 'main', undefined);
  }

  private display(layout: Layout, view: ViewType, durationMs: number | undefined): void {
    if (view !== 'main' && view !== 'dashboard') {
      throw layoutError(`view must be "main" or "dashboard", got ${JSON.stringify(view)}`);
    }
    // Same key order as @mentra/sdk's frame; durationMs is left out, not set to undefined, so
    // the object equals what JSON.parse gives back on the other side.
    const message: DisplayRequest = {
      timestamp: new Date().toISOString(),
      sessionId: '',
      type: 'display_event',
      packageName: this.packageName,
      view,
      layout,
    };
    if (durationMs !== undefined) {
      if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) {
        throw layoutError(`durationMs must be a finite number of milliseconds ≥ 0, got ${String(durationMs)}`);
      }
      message.durationMs = durationMs;
    }
    this.send(message);
  }
}

function requireString(field: string, value: unknown): void {
  if (typeof value !== 'string') throw layoutError(`${field} must be a string, got ${typeof value}`);
}

function layoutError(message: string): TetherError {
  return new TetherError('INVALID_FIELDS', message);
}
