/**
 * Types the page's JSDoc refers to, for `tsc -p inspector/page` (never loaded by the browser).
 * Wire formats come from `../protocol.ts`, the one definition the server uses too; the machine
 * definition and ELK's graph are described here as the page reads them.
 */
import type { FeedClientMessage, FeedServerMessage } from '../protocol.js';

export type { FeedClientMessage, FeedServerMessage };

/** A guard as a definition writes it: a name, or `{ type }` (with operands for `and`/`or`/`not`). */
export type GuardDef = string | { type: string; params?: unknown; guards?: GuardDef[] };

/**
 * A transition of a definition: XState v5's `toJSON()` form (`eventType`, `target: string[]`),
 * or the older shapes some traces carry (`event`, a single `target`).
 */
export interface TransitionDef {
  eventType?: string;
  event?: string;
  target?: string | string[];
  guard?: GuardDef;
  /** For an `after` transition: the delay in ms, or the name of a configured delay. */
  delay?: number | string;
}

/**
 * A state node of a machine definition (`machine.toJSON()`, see `MachineJSON` in
 * `../protocol.ts`), read tolerantly: `transitions`, or `on` / `after` / `always`.
 */
export interface StateDef {
  id: string;
  key: string;
  type?: string;
  description?: string;
  tags?: string[];
  states?: Record<string, StateDef>;
  initial?: TransitionDef;
  transitions?: TransitionDef[];
  on?: Record<string, TransitionDef[]>;
  after?: TransitionDef[];
  always?: TransitionDef[];
}

/** A point of a laid-out edge, px. */
export interface ElkPoint {
  x: number;
  y: number;
}

/** The graph handed to ELK: sizes of leaves and labels, layout options, nesting. */
export interface ElkNode {
  id: string;
  width?: number;
  height?: number;
  layoutOptions?: Record<string, string>;
  children?: ElkNode[];
  edges?: ElkEdge[];
}

/** An edge handed to ELK. */
export interface ElkEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: Array<{ id: string; text: string; width: number; height: number }>;
}

/** A node after layout: every position and size known (ROOT coordinates). */
export interface LaidOutNode {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  children?: LaidOutNode[];
  edges?: LaidOutEdge[];
}

/** An edge after layout: its routed sections and placed labels. */
export interface LaidOutEdge {
  id: string;
  sections?: Array<{ startPoint: ElkPoint; endPoint: ElkPoint; bendPoints?: ElkPoint[] }>;
  labels?: Array<{ text: string; x: number; y: number }>;
}

/** The ELK instance of `elk.bundled.js`. */
export interface Elk {
  layout(graph: ElkNode): Promise<LaidOutNode>;
}

declare global {
  interface Window {
    /** Defined by the vendored `elk.bundled.js`, loaded as a classic script before the page. */
    ELK: new () => Elk;
    /** Page-side figures the end-to-end test reads. */
    tetherInspector?: { metrics: { listRenders: Array<{ at: number; count: number }> } };
  }
}
