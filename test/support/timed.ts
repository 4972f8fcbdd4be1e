/** Measures how long a promise an SDK call returned takes to settle, for "fails within 2 s" checks. */

/** How a promise settled and after how many milliseconds. */
export interface Settled<T> {
  readonly ms: number;
  readonly value?: T;
  readonly error?: unknown;
}

/** Milliseconds `promise` takes to settle, and how; never rejects. */
export async function timed<T>(promise: Promise<T>): Promise<Settled<T>> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}
