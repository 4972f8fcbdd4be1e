/**
 * Opens many simulated glasses at once with a bounded number of handshakes in flight, for load
 * tests and the demo. Failures are collected, not thrown: a load test wants to know how many
 * connected, not to stop at the first refusal.
 */
import { CloseCode } from '../protocol/closeCodes.js';
import { SimulatedGlasses } from './glassesClient.js';
import type { SimulatedGlassesOptions } from './glassesClient.js';

/** Gives the core token of one user of the fleet. */
export type FleetTokenSource = (userId: string, index: number) => string | Promise<string>;

/**
 * Options of {@link startFleet}: the fleet's own, and the options of {@link SimulatedGlasses}
 * but its token, handed to every client as they are.
 */
export interface FleetOptions extends Omit<SimulatedGlassesOptions, 'token'> {
  /** One token per client (index `i` uses `tokens[i]`), or a function that makes the token for a user id. */
  tokens: readonly string[] | FleetTokenSource;
  /** How many clients to open; defaults to `tokens.length` when `tokens` is an array (required otherwise). */
  count?: number;
  /** Most handshakes in flight at once (default 50). */
  concurrency?: number;
  /** User id of client `index`, passed to a token function (default `sim-user-<index>`). */
  userIdFor?: (index: number) => string;
}

/** A client of the fleet that did not connect. */
export interface FleetFailure {
  /** Its index, in `0..count-1`. */
  readonly index: number;
  /** Why: a `SimulatedGlassesError` (with `code`), or whatever the token function threw. */
  readonly error: unknown;
}

/** What {@link startFleet} returns. */
export interface Fleet {
  /** The clients that connected, in index order. */
  readonly glasses: readonly SimulatedGlasses[];
  /** The clients that did not, in index order; their sockets are already released. */
  readonly failures: readonly FleetFailure[];
  /** Wall time from the first handshake to the last, in ms. */
  readonly durationMs: number;
  /**
   * Closes every client cleanly, then destroys it (releasing zombies too); resolves when all
   * sockets are gone.
   *
   * @param code close code (default 1000)
   * @param reason close reason
   */
  closeAll(code?: number, reason?: string): Promise<void>;
}

const DEFAULT_CONCURRENCY = 50;

/**
 * Opens `count` simulated glasses, at most `concurrency` handshakes at a time, and resolves
 * once every one has connected or failed.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { tokens } = options;
  const count = options.count ?? (typeof tokens === 'function' ? undefined : tokens.length);
  if (count === undefined || !Number.isInteger(count) || count < 0) {
    throw new RangeError('startFleet: count must be a non-negative integer (required with a token function)');
  }
  if (typeof tokens !== 'function' && tokens.length < count) {
    throw new RangeError(`startFleet: ${count} clients but only ${tokens.length} tokens`);
  }
  const concurrency = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, count));
  const userIdFor = options.userIdFor ?? ((index: number) => `sim-user-${index}`);

  const connected = new Array<SimulatedGlasses | undefined>(count);
  const failures: FleetFailure[] = [];

  const openOne = async (index: number): Promise<void> => {
    let glasses: SimulatedGlasses | undefined;
    try {
      const token = typeof tokens === 'function' ? await tokens(userIdFor(index), index) : tokens[index];
      glasses = new SimulatedGlasses(clientOptions(options, token));
      await glasses.connect();
      connected[index] = glasses;
    } catch (error) {
      failures.push({ index, error });
      await glasses?.destroy();
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await openOne(index);
    }
  };

  const startedAt = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const durationMs = performance.now() - startedAt;

  const glasses = connected.filter((client): client is SimulatedGlasses => client !== undefined);
  failures.sort((a, b) => a.index - b.index);
  return {
    glasses,
    failures,
    durationMs,
    async closeAll(code: number = CloseCode.NORMAL, reason = ''): Promise<void> {
      await Promise.all(
        glasses.map(async (client) => {
          await client.close(code, reason);
          await client.destroy();
        }),
      );
    },
  };
}

/** The options of one client: every option of the fleet but its own, and the client's token. */
function clientOptions(options: FleetOptions, token: string | undefined): SimulatedGlassesOptions {
  const { tokens: _tokens, count: _count, concurrency: _concurrency, userIdFor: _userIdFor, ...perClient } = options;
  return token === undefined ? perClient : { ...perClient, token };
}
