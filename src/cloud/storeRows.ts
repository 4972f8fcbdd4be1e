/**
 * The rows of the store's tables as both implementations read them (SQLite and PostgreSQL have
 * the same columns; numbers arrive as numbers from both), and what turns them into records.
 */
import type { AppRecord } from './store.js';

/** A row of `apps`. */
export interface AppRow {
  package_name: string;
  name: string;
  webhook_url: string;
  api_key_hash: string;
  created_at: number;
}

/** A row of `app_registrations` (without its `seq`). */
export interface RegistrationRow {
  registration_id: string;
  package_name: string;
  boot_id: string;
  server_url: string;
  version: string;
  registered_at: number;
  last_seen_at: number;
}

/** A row of `screens`. */
export interface ScreenRow {
  session_id: string;
  view: string;
  user_id: string;
  frame: string;
  seq: number;
  shown_at: number;
  expires_at: number | null;
}

/** A row of `session_snapshots`. */
export interface SnapshotRow {
  user_id: string;
  snapshot: string;
  saved_at: number;
}

/** A row of `app_definitions`. */
export interface DefinitionRow {
  package_name: string;
  settings: string;
  permissions: string;
  updated_at: number;
}

/** An `apps` row as the record callers get. */
export function toApp(row: AppRow): AppRecord {
  return {
    packageName: row.package_name,
    name: row.name,
    webhookUrl: row.webhook_url,
    apiKeyHash: row.api_key_hash,
    createdAt: row.created_at,
  };
}

/** Size a key and its value count against the quota: their UTF-8 bytes. */
export function entryBytes(key: string, value: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(value);
}
