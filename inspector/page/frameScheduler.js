/**
 * Coalesces view updates per animation frame: any number of `invalidate(name)` calls between two
 * frames cost one render of each named view. The feed can deliver hundreds of upserts a second;
 * the page renders at most once per frame.
 */

/**
 * @param {Record<string, () => void>} renderers view name → render function
 */
export function createFrameScheduler(renderers) {
  /** @type {Set<string>} */
  const dirty = new Set();
  let scheduled = false;

  function flush() {
    scheduled = false;
    const names = [...dirty];
    dirty.clear();
    for (const name of names) {
      try {
        renderers[name]?.();
      } catch (error) {
        console.error(`inspector: rendering ${name} failed`, error);
      }
    }
  }

  return {
    /**
     * Marks views as needing a render on the next frame.
     * @param {...string} names
     */
    invalidate(...names) {
      for (const name of names) dirty.add(name);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    },
  };
}
