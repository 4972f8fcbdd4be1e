/**
 * The Tether inspector: a hub that records every actor's statechart activity (in-process via
 * XState's `inspect`, from other processes via `/inspector/ingest`), the endpoints that serve it
 * to the page, and a client that streams a process's actors into it.
 */
export {
  createInspectorHub,
  type ExportFilter,
  type IngestSource,
  type InspectorHub,
  type InspectorHubOptions,
} from './hub.js';
export type { FeedConnection, FeedConnectionOptions } from './feed.js';
export {
  createInspectorServer,
  DEFAULT_PAGE_DIR,
  DEFAULT_VENDOR_DIR,
  INSPECTOR_COOKIE,
  type InspectorServer,
  type InspectorServerOptions,
} from './server.js';
export { createIngestInspector, INGEST_CLIENT_VERSION, type IngestInspector, type IngestInspectorOptions } from './ingestClient.js';
export { acceptIngestSocket, sourceNameOf } from './ingest.js';
export { createRedactor, toSafeJson, REDACTED, SECRET_KEY_PATTERN, type RedactRule, type SafeJsonOptions } from './redact.js';
export { machineDefinition, definitionFromConfig } from './definition.js';
export * from './protocol.js';
