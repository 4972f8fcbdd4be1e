/**
 * Write backpressure for every glasses and app socket. A socket whose unsent bytes
 * (`ws.bufferedAmount`) go over the high-water mark is *congested*: data frames are not written
 * to it — an app's stay in its replay buffer, a glasses display waits as the latest one per view —
 * until it drains; then they go out in order (apps: exactly once for the Tether SDK, by `seq`).
 * Control frames (acks, errors, `app_state_change`) are small and rare and are always written.
 * A socket that stays congested longer than the congestion limit is not healthy: its link
 * closes it 1013 on its next heartbeat tick (`machines/socketLink.ts`, guard `isCongested`).
 *
 * Drain is noticed without polling: when a socket becomes congested a ping is written with a
 * callback, and `ws` calls it once everything queued before it has been handed to the kernel.
 */
import { WebSocket } from 'ws';
import type { SocketEntry } from './socketTable.js';

/** Options of a {@link WriteGate}. */
export interface WriteGateOptions {
  /** Unsent bytes above which a socket is congested. */
  highWaterBytes: number;
  /** Called once when a socket becomes congested. */
  onCongested?(entry: SocketEntry): void;
  /** Called once when a congested socket drained: write what it was not sent. */
  onDrained(entry: SocketEntry): void;
}

/** Decides, per data frame, whether a socket takes it now. One per cloud. */
export class WriteGate {
  constructor(private readonly options: WriteGateOptions) {}

  /** Whether `entry` takes another data frame now; marks it congested when it does not. */
  canWrite = (entry: SocketEntry): boolean => {
    if (entry.congestedSince !== undefined) return false;
    if (entry.ws.bufferedAmount <= this.options.highWaterBytes) return true;
    this.congest(entry);
    return false;
  };

  /** Whether `entry` has been congested for at least `limitMs` (monotonic ms). */
  static congestedFor(entry: SocketEntry, limitMs: number, now = performance.now()): boolean {
    return entry.congestedSince !== undefined && now - entry.congestedSince >= limitMs;
  }

  private congest(entry: SocketEntry): void {
    entry.congestedSince = performance.now();
    this.options.onCongested?.(entry);
    const { ws } = entry;
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.ping(undefined, undefined, (error?: Error) => {
      if (error || entry.congestedSince === undefined || ws.readyState !== WebSocket.OPEN) return;
      entry.congestedSince = undefined;
      this.options.onDrained(entry);
    });
  }
}
