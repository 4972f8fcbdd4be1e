/**
 * The audio data plane: each binary WebSocket frame from a user's glasses (PCM or encoded audio,
 * opaque to the cloud) is written as the same binary frame to every app session of that user
 * subscribed to `audio_chunk` — how `@mentra/sdk` receives audio (`events.onAudioChunk` fires on
 * any binary frame). No JSON, no actor event, no copy: the received buffer itself is handed to
 * each app socket.
 *
 * Audio is live, not replayed: it takes no `seq` and never enters the replay buffer (a 32 KB/s
 * stream would push every event out of it, and audio replayed seconds late is noise). Memory stays
 * bounded by the write gate instead: a frame for an app socket that is congested (unsent bytes
 * over `socketHighWaterBytes`) or not open is dropped and counted in
 * `tether_audio_frames_total{outcome}`, never queued.
 */
import { WebSocket } from 'ws';
import { appSocketGenOf, forEachAppSession, isCurrentGlassesGen, subscriptionsOf, type AppSessionRef } from '../../machines/sessionApi.js';
import type { Logger } from '../logger.js';
import type { WriteGate } from './link/backpressure.js';
import type { SocketEntry, SocketTable } from './link/socketTable.js';
import type { CloudMetrics } from './metrics.js';
import type { SessionRegistry } from './sessionRegistry.js';
import { mayWriteTo } from './link/outboundFence.js';

/** The stream name an app subscribes to for the glasses' binary audio (`StreamType.AUDIO_CHUNK`). */
const AUDIO_CHUNK_STREAM = 'audio_chunk';

/** What the relay needs from the cloud. */
export interface AudioRelayDeps {
  sessions: SessionRegistry;
  sockets: SocketTable;
  gate: WriteGate;
  metrics: CloudMetrics;
  logger: Logger;
}

/** What became of one audio frame for one subscribed app, or of a frame nobody could take. */
export type AudioOutcome = 'relayed' | 'congested' | 'disconnected' | 'empty';

/** Relays one cloud's glasses audio to the subscribed apps. */
export class AudioRelay {
  private readonly counted: Record<AudioOutcome, { inc(): void }>;
  /** App sockets already logged as dropping audio, so a congested socket logs once, not 10 times a second. */
  private readonly loggedDrops = new WeakSet<SocketEntry>();

  constructor(private readonly deps: AudioRelayDeps) {
    // Bound once: `labels()` per frame would hash the label set every time.
    const series = (outcome: AudioOutcome) => deps.metrics.audioFrames.labels({ outcome });
    this.counted = { relayed: series('relayed'), congested: series('congested'), disconnected: series('disconnected'), empty: series('empty') };
  }

  /**
   * Writes `frame`, received on glasses socket `gen` of `userId`, to each app session of the user
   * subscribed to `audio_chunk`. A replaced glasses socket that is still draining is not heard
   * (only the current one speaks for the user). Returns how many app sockets it was written to.
   */
  relay(userId: string, gen: number, frame: Buffer): number {
    const user = this.deps.sessions.get(userId)?.getSnapshot();
    if (!user || !isCurrentGlassesGen(user, gen)) return 0;
    // `@mentra/sdk` raises an app error for an empty binary frame: there is nothing to play anyway.
    if (frame.length === 0) {
      this.counted.empty.inc();
      return 0;
    }
    let relayed = 0;
    forEachAppSession(user, (child: AppSessionRef) => {
      const app = child.getSnapshot();
      if (!subscriptionsOf(app).includes(AUDIO_CHUNK_STREAM)) return;
      const appGen = appSocketGenOf(app);
      const socket = appGen === undefined ? undefined : this.deps.sockets.get(appGen);
      if (!socket || socket.ws.readyState !== WebSocket.OPEN || !mayWriteTo(socket.ws)) {
        // The app is reconnecting: live audio it missed is not kept for it.
        this.counted.disconnected.inc();
        return;
      }
      if (!this.deps.gate.canWrite(socket)) {
        this.counted.congested.inc();
        this.logDrop(socket);
        return;
      }
      socket.ws.send(frame, { binary: true });
      this.counted.relayed.inc();
      relayed++;
    });
    return relayed;
  }

  private logDrop(socket: SocketEntry): void {
    if (this.loggedDrops.has(socket)) return;
    this.loggedDrops.add(socket);
    this.deps.logger.warn(
      { userId: socket.userId, sessionId: socket.sessionId, packageName: socket.packageName, gen: socket.gen },
      'audio dropped for a congested app socket',
    );
  }
}
