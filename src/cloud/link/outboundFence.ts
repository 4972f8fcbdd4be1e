/**
 * The check every frame to a client passes on a node of a cluster (ARCHITECTURE.md "Many nodes",
 * self-fencing): a socket may be guarded with a predicate, asked at each write, so a node whose
 * lease ran out sends nothing more on it, from the first instruction after it noticed, or after
 * it was resumed from a pause, whichever path the write takes. Close frames are not guarded: a
 * fenced node closes the sockets of the sessions it lost (1012), and that is all it sends.
 *
 * One node (no cluster) guards nothing, and a write costs one WeakMap lookup more.
 */

const guards = new WeakMap<object, () => boolean>();

/** Lets frames out on `ws` only while `mayWrite()` holds. */
export function guardSocket(ws: object, mayWrite: () => boolean): void {
  guards.set(ws, mayWrite);
}

/** Whether a frame may be written to `ws` now. */
export function mayWriteTo(ws: object): boolean {
  const guard = guards.get(ws);
  return guard === undefined || guard();
}
