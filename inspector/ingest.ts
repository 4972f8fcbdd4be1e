/**
 * The ingest endpoint's socket handling: one WebSocket from another process (a Tether SDK app
 * server, or any XState v5 program using `@statelyai/inspect`'s `createWebSocketInspector`)
 * becomes one hub source. Each text frame is one message in the `@statelyai/inspect` format
 * (see `IngestMessage` in `protocol.ts`); a frame holding a JSON array is a batch of them.
 * Frames that cannot be read are counted and ignored: a bad sender never affects the cloud.
 */
import type { WebSocket } from 'ws';
import { frameText } from '../src/protocol/parse.js';
import type { InspectorHub } from './hub.js';

/** Characters allowed in a source name given as `?source=`. */
const SOURCE_NAME = /^[\w.@:+-]{1,64}$/;

let anonymousSources = 0;

/**
 * The source name a connection asked for (`?source=<name>`), or `ingest-<n>` when it named
 * none (`@statelyai/inspect` does not) or an unusable one.
 */
export function sourceNameOf(url: string | undefined): string {
  const requested = new URL(url ?? '/', 'http://localhost').searchParams.get('source');
  return requested && SOURCE_NAME.test(requested) ? requested : `ingest-${++anonymousSources}`;
}

/** Counters of one ingest connection. */
export interface IngestStats {
  received: number;
  rejected: number;
}

/**
 * Feeds the messages of `ws` into `hub` as source `name` until the socket closes; then the
 * source's live actors are marked stopped.
 */
export function acceptIngestSocket(ws: WebSocket, hub: InspectorHub, name: string): IngestStats {
  const source = hub.attachSource(name);
  const stats: IngestStats = { received: 0, rejected: 0 };
  ws.on('message', (data) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(frameText(data));
    } catch {
      stats.rejected++;
      return;
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (source.receive(message)) stats.received++;
      else stats.rejected++;
    }
  });
  ws.on('close', () => source.detach());
  ws.on('error', () => source.detach());
  return stats;
}
