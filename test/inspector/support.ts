/**
 * Helpers for the inspector's tests: a page-feed client over a real WebSocket, an HTTP server
 * carrying only the inspector's endpoints, and a small machine with secrets in its context.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { assign, setup } from 'xstate';
import { createInspectorServer, type InspectorServer, type InspectorServerOptions } from '../../inspector/server.js';
import type { FeedServerMessage } from '../../inspector/protocol.js';
import { frameText } from '../../src/protocol/parse.js';
import { waitFor } from '../support/net.js';

/** A page's end of `/inspector/ws`: every message received, parsed, in order. */
export class FeedClient {
  readonly messages: FeedServerMessage[] = [];
  /** Every frame as received, to search for text that must never appear. */
  readonly raw: string[] = [];
  readonly ws: WebSocket;
  private readonly opened: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      const text = frameText(data);
      this.raw.push(text);
      this.messages.push(JSON.parse(text) as FeedServerMessage);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  open(): Promise<void> {
    return this.opened;
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The first message (from index `from`) of `type` that satisfies `match`. */
  async next<T extends FeedServerMessage['type']>(
    type: T,
    match: (message: Extract<FeedServerMessage, { type: T }>) => boolean = () => true,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Extract<FeedServerMessage, { type: T }>> {
    const from = options.from ?? 0;
    return waitFor(
      () =>
        this.messages
          .slice(from)
          .find((m): m is Extract<FeedServerMessage, { type: T }> => m.type === type && match(m as Extract<FeedServerMessage, { type: T }>)),
      { timeoutMs: options.timeoutMs ?? 3000, message: `no ${type} message matched` },
    );
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** An HTTP server on 127.0.0.1 with only the inspector's endpoints. */
export async function startInspectorHttp(options: InspectorServerOptions): Promise<{
  url: string;
  wsUrl: string;
  endpoints: InspectorServer;
  close(): Promise<void>;
}> {
  const endpoints = createInspectorServer(options);
  const server: Server = createServer(endpoints.wrap((_req, res) => res.writeHead(404).end()));
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (endpoints.handles(path)) endpoints.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    endpoints,
    async close() {
      await endpoints.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What an upgrade to `url` got: `open`, or the refusal's HTTP status. */
export function upgradeOutcome(url: string, headers: Record<string, string> = {}): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => resolve(0));
  });
}

/** Secrets the tests put in contexts and events, and search for in what leaves the process. */
export const SECRETS = {
  apiKey: 'sk-live-inspector-test-0123456789',
  token: 'tok-inspector-test-abcdef',
  password: 'hunter2-inspector-test',
} as const;

/**
 * A small machine with secrets at several depths of its context, a guard, an `after` delay, a
 * nested state and a parallel region: `idle` → `working` (`step.a`/`step.b` ∥ `watch`) → `done`.
 */
export const secretMachine = setup({
  types: {
    context: {} as {
      userId: string;
      packageName: string;
      apiKey: string;
      nested: { deeper: { token: string; list: Array<{ password: string; ok: number }> } };
      now: () => number;
      count: number;
    },
    events: {} as { type: 'start' } | { type: 'next'; authorization?: string } | { type: 'finish' },
    input: {} as { userId: string },
  },
  guards: { isReady: ({ context }) => context.count >= 0 },
  delays: { patience: 60_000 },
  actions: { bump: assign({ count: ({ context }) => context.count + 1 }) },
}).createMachine({
  id: 'secretHolder',
  context: ({ input }) => ({
    userId: input.userId,
    packageName: 'com.example.secret',
    apiKey: SECRETS.apiKey,
    nested: { deeper: { token: SECRETS.token, list: [{ password: SECRETS.password, ok: 1 }] } },
    now: () => 0,
    count: 0,
  }),
  initial: 'idle',
  states: {
    idle: { on: { start: { guard: 'isReady', target: 'working' } } },
    working: {
      type: 'parallel',
      states: {
        step: {
          initial: 'a',
          states: { a: { on: { next: { target: 'b', actions: 'bump' } } }, b: {} },
        },
        watch: { after: { patience: '#secretHolder.done' } },
      },
      on: { finish: 'done' },
    },
    done: { type: 'final' },
  },
});
