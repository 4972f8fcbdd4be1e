/**
 * Reads the cloud child's `/metrics` from outside, as an operator would: the socket census
 * (`tether_sockets`, `tether_duplicate_sockets`), sessions, active resources by type, memory.
 */

/** What one scrape says. */
export interface CloudScrape {
  /** `tether_sessions` summed over kind and state. */
  sessions: number;
  sockets: { glasses: number; app: number };
  duplicates: { glasses: number; app: number };
  /** `nodejs_active_resources{type}`: timers, sockets, servers… held by the process. */
  resources: Record<string, number>;
  rssBytes: number;
  heapUsedBytes: number;
  /** `tether_heap_live_bytes`: the heap just after the last major GC (0 before the first). */
  liveHeapBytes: number;
  /** `nodejs_heap_size_total_bytes`: the heap V8 has reserved, garbage and free space included. */
  heapTotalBytes: number;
  /** `nodejs_external_memory_bytes`: memory outside the heap held by JS objects (buffers). */
  externalBytes: number;
}

const SAMPLE = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/;

/** Scrapes `base`/metrics; rejects when the cloud does not answer (it may be restarting). */
export async function scrapeCloud(base: string): Promise<CloudScrape> {
  const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const scrape: CloudScrape = { sessions: 0, sockets: { glasses: 0, app: 0 }, duplicates: { glasses: 0, app: 0 }, resources: {}, rssBytes: 0, heapUsedBytes: 0, liveHeapBytes: 0, heapTotalBytes: 0, externalBytes: 0 };
  for (const line of (await response.text()).split('\n')) {
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const [, name, labels = '', raw] = match as unknown as [string, string, string | undefined, string];
    const value = Number(raw);
    const label = (key: string) => new RegExp(`${key}="([^"]*)"`).exec(labels)?.[1];
    switch (name) {
      case 'tether_sessions':
        scrape.sessions += value;
        break;
      case 'tether_sockets':
      case 'tether_duplicate_sockets': {
        const kind = label('kind');
        const into = name === 'tether_sockets' ? scrape.sockets : scrape.duplicates;
        if (kind === 'glasses' || kind === 'app') into[kind] = value;
        break;
      }
      case 'nodejs_active_resources':
        scrape.resources[label('type') ?? '?'] = value;
        break;
      case 'process_resident_memory_bytes':
        scrape.rssBytes = value;
        break;
      case 'nodejs_heap_size_used_bytes':
        scrape.heapUsedBytes = value;
        break;
      case 'tether_heap_live_bytes':
        scrape.liveHeapBytes = value;
        break;
      case 'nodejs_heap_size_total_bytes':
        scrape.heapTotalBytes = value;
        break;
      case 'nodejs_external_memory_bytes':
        scrape.externalBytes = value;
        break;
      default:
        break;
    }
  }
  return scrape;
}
