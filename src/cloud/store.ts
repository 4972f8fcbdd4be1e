/**
 * The cloud's persistence contract (ARCHITECTURE.md "Persistence"): apps and their hashed API
 * keys, each user's running apps, app-server registrations with their restart history,
 * persisted user-session snapshots, the screens each app last showed (issue 11 §3), and what
 * apps keep through the HTTP endpoints for apps (issue 12 §1): settings definitions, permissions,
 * each user's setting values and simple storage.
 *
 * Lifecycle events touch the store (an app created, a session changing state, a server
 * registered); the data plane only through batched writers: screens at most once per tick
 * (`screenWriter.ts`), delivery positions reserved in blocks (`sessionPersistence.ts`).
 *
 * The API is asynchronous because PostgreSQL, the store of many nodes (`pgStore.ts`), is. Every
 * implementation applies calls in the order they were made, whether or not the caller awaits
 * them: a caller may fire a write and go on, and its next read or write sees it. The embedded
 * SQLite store (`sqliteStore.ts`) runs each call at once, inside the call: its promises are
 * already settled when returned, so a process killed right after a call returned keeps what the
 * call wrote.
 */

export { createSqliteStore } from './sqliteStore.js';

/** One registered app. Times are epoch milliseconds. */
export interface AppRecord {
  /** Unique id of the app (`com.example.captions`); the primary key. */
  readonly packageName: string;
  /** Display name. */
  readonly name: string;
  /** Where `session_request` and `stop_request` are POSTed. */
  readonly webhookUrl: string;
  /** The API key as stored by `hashApiKey` (`src/cloud/apiKeys.ts`); never the key itself. */
  readonly apiKeyHash: string;
  /** When the app was created, in epoch ms. */
  readonly createdAt: number;
}

/** What {@link Store.createApp} takes; `createdAt` defaults to now. */
export interface NewApp {
  readonly packageName: string;
  readonly name: string;
  readonly webhookUrl: string;
  readonly apiKeyHash: string;
  /** Creation time in epoch ms; defaults to `Date.now()`. */
  readonly createdAt?: number;
}

/** A registration request from an app server (seed 02 §3.1), as {@link Store.recordRegistration} takes it. */
export interface RegistrationInput {
  readonly packageName: string;
  /** Base URL of the app server that registered. */
  readonly serverUrl: string;
  /** Version the app server reports (free text). */
  readonly version: string;
  /**
   * Random id the app server draws once per process start. A registration with a boot id not
   * seen before is a new process; one with a known boot id is a periodic refresh.
   */
  readonly bootId: string;
  /** When the registration arrived, in epoch ms. */
  readonly at: number;
}

/** What {@link Store.recordRegistration} found. */
export interface RegistrationResult {
  /** Id of the registration row for this boot (the same for every refresh of one process). */
  readonly registrationId: string;
  /**
   * True when this boot id is new and the package had registered before under another one: the
   * app server restarted (or another replica came up), so sessions that lost their connection
   * should be started again (seed 02 §3.4). False for a refresh and for a first registration.
   */
  readonly restarted: boolean;
}

/** One row of an app's registration history: one app-server process. Times in epoch ms. */
export interface RegistrationRecord {
  readonly registrationId: string;
  readonly packageName: string;
  readonly serverUrl: string;
  readonly version: string;
  readonly bootId: string;
  /** First registration of this boot, in epoch ms. */
  readonly registeredAt: number;
  /** Latest registration (refresh) of this boot, in epoch ms. */
  readonly lastSeenAt: number;
}

/** A persisted user-session snapshot. */
export interface SessionSnapshotRecord {
  readonly userId: string;
  /** The snapshot as the caller serialized it (JSON text); the store does not interpret it. */
  readonly json: string;
  /** When it was saved, in epoch ms. */
  readonly savedAt: number;
}

/** Which screen: an app session's view (`main`, `dashboard`). */
export interface ScreenKey {
  readonly sessionId: string;
  readonly view: string;
}

/** A remembered screen (`screenMemory.ts`): an app session's last display in one view. */
export interface ScreenRecord extends ScreenKey {
  readonly userId: string;
  /** The `display_event` frame as the caller serialized it (JSON text); the store does not interpret it. */
  readonly json: string;
  /** Drawing order (larger is newer), kept so a restart shows the screens in the order they were drawn. */
  readonly seq: number;
  /** When it was drawn, in epoch ms. */
  readonly shownAt: number;
  /** When its `durationMs` runs out, in epoch ms; undefined: shown until replaced. */
  readonly expiresAt?: number | undefined;
}

/** One batch of {@link Store.writeSessionSnapshots}. */
export interface SessionSnapshotChanges {
  /** Snapshots to save (replace), as the caller serialized them (JSON text). */
  readonly save: ReadonlyArray<{ readonly userId: string; readonly json: string }>;
  /** Users whose snapshot is removed. */
  readonly remove: readonly string[];
  /** When the batch was written, in epoch ms; defaults to now. */
  readonly savedAt?: number;
  /**
   * Many nodes: the ownership epoch the writer holds each user's session under (ARCHITECTURE.md
   * "Many nodes"). A user listed here is written only if no newer epoch was recorded for them,
   * and then the recorded epoch becomes this one; a user not listed is written as it is (one
   * node, no ownership).
   */
  readonly epochs?: ReadonlyMap<string, number>;
}

/** What {@link Store.writeSessionSnapshots} did. */
export interface SessionSnapshotWrite {
  /**
   * Users whose change was not written because their session is recorded under a newer epoch:
   * another node owns it now. Empty on one node.
   */
  readonly refused: readonly string[];
}

/** What {@link Store.claimSession} found. */
export type SessionClaim =
  /** The epoch is recorded; `snapshot` is the session the previous owner left, if any. */
  | { readonly accepted: true; readonly snapshot: SessionSnapshotRecord | undefined }
  /** A newer epoch was recorded before: the claim is stale (another node took the session since). */
  | { readonly accepted: false; readonly epoch: number };

/**
 * What an app declares beyond its registration (issue 12 §1): its settings definitions (with
 * their defaults) and its permissions, as the admin API set them. Both are JSON text the caller
 * validated and serialised; the store does not interpret them.
 */
export interface AppDefinitionRecord {
  readonly packageName: string;
  /** JSON array of setting definitions (`@mentra/sdk`'s `AppSetting` shape, values not filled). */
  readonly settingsJson: string;
  /** JSON array of `{ type, description? }` permissions. */
  readonly permissionsJson: string;
  /** Last change, in epoch ms. */
  readonly updatedAt: number;
}

/** What {@link Store.putSimpleStorage} did. */
export interface SimpleStoragePut {
  /** False when the namespace would have grown past the quota; nothing was written then. */
  readonly written: boolean;
  /** Size of the namespace after the call (keys and values, UTF-8 bytes). */
  readonly bytes: number;
}

/**
 * The persistence contract of the cloud. Every method is synchronous and throws a
 * `TetherError` on failure (`ALREADY_EXISTS` for a duplicate app, `UNKNOWN_PACKAGE` for a
 * registration of an app that does not exist, `INTERNAL_ERROR` after {@link close}).
 */
export interface Store {
  /**
   * Adds an app.
   * @throws TetherError `ALREADY_EXISTS` when an app with that package name already exists.
   */
  createApp(app: NewApp): Promise<AppRecord>;
  /** The app with that package name, or `undefined`. */
  getApp(packageName: string): Promise<AppRecord | undefined>;
  /** Every app, ordered by package name. */
  listApps(): Promise<AppRecord[]>;
  /** Removes an app and its registration history; returns whether it existed. */
  deleteApp(packageName: string): Promise<boolean>;
  /** Replaces an app's API-key hash (key rotation); returns whether the app exists. */
  setApiKeyHash(packageName: string, apiKeyHash: string): Promise<boolean>;
  /** Points the app's webhook at a new URL; false when there is no such app. */
  setWebhookUrl(packageName: string, webhookUrl: string): Promise<boolean>;

  /** The user's desired running apps, in the order they were set; `[]` for an unknown user. */
  getRunningApps(userId: string): Promise<string[]>;
  /** Replaces the user's running apps (duplicates are dropped, first occurrence kept). */
  setRunningApps(userId: string, packageNames: readonly string[]): Promise<void>;

  /**
   * Records an app-server registration and tells whether it reveals a restart.
   * @throws TetherError `UNKNOWN_PACKAGE` when no app has that package name.
   */
  recordRegistration(input: RegistrationInput): Promise<RegistrationResult>;
  /** The package's registration history, newest first (bounded; old boots are pruned). */
  listRegistrations(packageName: string): Promise<RegistrationRecord[]>;

  /** Saves (replaces) the user's session snapshot; `savedAt` defaults to now (epoch ms). */
  saveSessionSnapshot(userId: string, json: string, savedAt?: number): Promise<void>;
  /** Every saved snapshot, ordered by user id. */
  loadSessionSnapshots(): Promise<SessionSnapshotRecord[]>;
  /** Removes the user's snapshot; returns whether there was one. */
  deleteSessionSnapshot(userId: string): Promise<boolean>;
  /**
   * Applies a batch of snapshot changes in one transaction (the write-through of one tick): each
   * save replaces the user's snapshot, each removal deletes it, except for users whose session
   * is recorded under a newer epoch than `changes.epochs` gives (they are `refused`). All or
   * nothing: a process killed mid-batch leaves the store as it was before it.
   */
  writeSessionSnapshots(changes: SessionSnapshotChanges): Promise<SessionSnapshotWrite>;
  /**
   * Many nodes: records that `userId`'s session is now held under `epoch` and returns the
   * snapshot its previous owner left, in one transaction, so no write of an older epoch lands
   * after the snapshot was read. Refused when a newer epoch is recorded. Epochs only grow.
   */
  claimSession(userId: string, epoch: number): Promise<SessionClaim>;
  /** Removes every session snapshot; returns how many there were. */
  clearSessionSnapshots(): Promise<number>;

  /**
   * Writes a batch of screen changes in one transaction: each of `puts` replaces the screen of
   * its (session, view), each of `removals` deletes one (absent ones are ignored).
   */
  saveScreens(puts: readonly ScreenRecord[], removals: readonly ScreenKey[]): Promise<void>;
  /** Every saved screen, in drawing order (`seq`). */
  loadScreens(): Promise<ScreenRecord[]>;

  /**
   * Sets what `packageName` declares beyond its registration; false when there is no such app.
   * Removed with the app.
   */
  setAppDefinition(packageName: string, definition: { settingsJson: string; permissionsJson: string; updatedAt?: number }): Promise<boolean>;
  /** What the app declared, or `undefined` when it never declared anything (or does not exist). */
  getAppDefinition(packageName: string): Promise<AppDefinitionRecord | undefined>;

  /**
   * Records that the cloud ran `packageName` for `userId` (an app user): it may then read and
   * write that user's simple storage, also after the session ended (a late flush). Idempotent;
   * false when there is no such app.
   */
  recordAppUser(packageName: string, userId: string, at?: number): Promise<boolean>;
  /** Whether {@link recordAppUser} recorded this pair. */
  isAppUser(packageName: string, userId: string): Promise<boolean>;

  /** The user's setting values for the app, key → JSON text of the value; `{}` when none was set. */
  getUserSettingValues(userId: string, packageName: string): Promise<Record<string, string>>;
  /** Sets one of the user's setting values (JSON text); false when there is no such app. */
  setUserSettingValue(userId: string, packageName: string, key: string, valueJson: string): Promise<boolean>;

  /** The (app, user) simple-storage namespace, key → value; `{}` when empty. */
  getSimpleStorage(packageName: string, userId: string): Promise<Record<string, string>>;
  /**
   * Writes `items` into the namespace (each replaces its key) in one transaction, unless the
   * namespace would then hold more than `maxBytes` (keys and values, UTF-8 bytes): then nothing
   * is written. A namespace of an app that does not exist is never written (`written: false`).
   */
  putSimpleStorage(packageName: string, userId: string, items: Readonly<Record<string, string>>, maxBytes: number): Promise<SimpleStoragePut>;
  /** Removes one key; returns whether it was there. */
  deleteSimpleStorageKey(packageName: string, userId: string, key: string): Promise<boolean>;
  /** Empties the namespace; returns how many keys it held. */
  clearSimpleStorage(packageName: string, userId: string): Promise<number>;

  /** Closes the store. Idempotent; any other call afterwards throws `INTERNAL_ERROR`. */
  close(): Promise<void>;
}
