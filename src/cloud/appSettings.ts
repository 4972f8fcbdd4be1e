/**
 * App settings (issue 12 §1): each app's definitions and defaults (`appDefinition.ts`), each
 * user's values in the store, and the three ways they reach the app —
 *
 * - `tpa_connection_ack.settings`: the definitions with the user's values filled in;
 * - `GET /appsettings/user/:packageName` with `Authorization: Bearer <sessionId>` (what
 *   `@mentra/sdk`'s `settings.fetch()` sends; its `ApiClient` names it userId but passes the
 *   session id) → `{ success: true, settings }`;
 * - `settings_update` pushed to the running app when the glasses change a value
 *   (`update_app_setting`), so `settings.onChange` fires. `@mentra/sdk` 2.1 also feeds that
 *   array to its MentraOS settings (MENTRA-SDK-WIRE.md §3.2), so `augmentos_settings_update`
 *   with the MentraOS settings of the ack follows at once and puts them back.
 *
 * A fetch needs a live session of that app: a session id is guessable (`${userId}-${packageName}`),
 * so one the cloud is not running reads nothing. On a node of a cluster the session may live on
 * another node: this one asks its owner whether it runs it, then reads the values from the shared
 * store, so a fetch is answered whichever node the balancer sent it to.
 */
import { Router } from 'express';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { WebSocket } from 'ws';
import { appSessionId, appSocketGenOf, userIdOfAppSession } from '../../machines/sessionApi.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { GlassesToCloudOf } from '../protocol/glassesToCloud.js';
import type { Logger } from '../logger.js';
import { createRateLimiter, hit } from '../util/rateLimit.js';
import { readAppDefinition, type SettingDefinition } from './appDefinition.js';
import { refuse } from './httpRefusal.js';
import type { SocketTable } from './link/socketTable.js';
import { writeFrame } from './link/writePath.js';
import type { SessionRegistry } from './sessionRegistry.js';
import type { Store } from './store.js';

/** Path of the settings fetch; `:packageName` is the app's. */
const APP_SETTINGS_PATH = '/appsettings/user/:packageName';

/**
 * MentraOS system settings the cloud gives apps (`mentraosSettings` of the ack, and after every
 * `settings_update`). Tether keeps no such user preferences yet, so it is empty.
 */
export const MENTRAOS_SETTINGS: Readonly<Record<string, unknown>> = Object.freeze({});

/** Window of the per-user limit on setting changes, in ms. */
const UPDATE_WINDOW_MS = 60_000;

/** Setting changes one user's glasses may make per {@link UPDATE_WINDOW_MS} (count): a person tapping, not a loop. */
const UPDATES_PER_WINDOW = 120;

/** Longest text value, in characters. */
const MAX_TEXT_LENGTH = 10_000;

/** A setting as apps receive it: its definition with `value` filled in. */
export type SettingWithValue = SettingDefinition & { value?: unknown };

/** Why a setting change was refused. */
export interface SettingRefusal {
  code: Extract<ErrorCode, 'UNKNOWN_PACKAGE' | 'UNKNOWN_SETTING' | 'INVALID_SETTING_VALUE' | 'RATE_LIMITED'>;
  message: string;
}

/** What the settings service needs from the cloud. */
export interface AppSettingsDeps {
  store: Store;
  sessions: Pick<SessionRegistry, 'appSession' | 'findAppSession'>;
  sockets: Pick<SocketTable, 'get'>;
  logger: Logger;
  /** On a node of a cluster: whether the owner of `userId`'s session, another node, runs that app session. */
  peers?: { ownerRunsAppSession(userId: string, sessionId: string, packageName: string): Promise<boolean> };
}

function optionValues(setting: SettingDefinition): unknown[] {
  return (setting.options ?? []).map((option) => option.value);
}

/** Why `value` does not fit `setting`, or undefined when it does. */
function valueProblem(setting: SettingDefinition, value: unknown): string | undefined {
  switch (setting.type) {
    case 'toggle':
      return typeof value === 'boolean' ? undefined : 'expected true or false';
    case 'text':
    case 'text_no_save_button':
      return typeof value === 'string' && value.length <= MAX_TEXT_LENGTH ? undefined : `expected a string of at most ${MAX_TEXT_LENGTH} characters`;
    case 'select':
    case 'select_with_search':
      return optionValues(setting).includes(value) ? undefined : 'expected one of the option values';
    case 'multiselect': {
      const allowed = optionValues(setting);
      return Array.isArray(value) && value.every((v) => allowed.includes(v)) ? undefined : 'expected a list of option values';
    }
    case 'slider':
    case 'numeric_input':
    case 'time_picker': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'expected a number';
      const min = setting.type === 'time_picker' ? 0 : setting.min;
      if (min !== undefined && value < min) return `expected at least ${min}`;
      if (setting.max !== undefined && value > setting.max) return `expected at most ${setting.max}`;
      return undefined;
    }
    default:
      return 'this setting holds no value';
  }
}

function parseStoredValue(json: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(json) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The settings of one cloud: values, the fetch endpoint and the push to running apps. */
export class AppSettings {
  private readonly limiter: RateLimiterMemory = createRateLimiter(UPDATES_PER_WINDOW, UPDATE_WINDOW_MS);

  constructor(private readonly deps: AppSettingsDeps) {}

  /** `packageName`'s settings for `userId`: each definition with the user's value, else its default. */
  async settingsFor(userId: string, packageName: string): Promise<SettingWithValue[]> {
    const { settings } = await readAppDefinition(this.deps.store, packageName);
    if (settings.length === 0) return [];
    const values = await this.deps.store.getUserSettingValues(userId, packageName);
    return settings.map((setting) => {
      const stored = setting.key === undefined ? undefined : values[setting.key];
      const parsed = stored === undefined ? undefined : parseStoredValue(stored);
      if (parsed?.ok) return { ...setting, value: parsed.value };
      return setting.defaultValue === undefined ? setting : { ...setting, value: setting.defaultValue };
    });
  }

  /**
   * Sets `userId`'s `key` of `packageName` to `value` if the app defines it and the value fits,
   * then tells the running app. Resolves with the refusal otherwise.
   */
  async update(userId: string, packageName: string, key: string, value: unknown): Promise<SettingRefusal | undefined> {
    if ((await hit(this.limiter, userId)) !== undefined) {
      return { code: 'RATE_LIMITED', message: `more than ${UPDATES_PER_WINDOW} setting changes per minute` };
    }
    if (!(await this.deps.store.getApp(packageName))) return { code: 'UNKNOWN_PACKAGE', message: `${packageName} is not registered` };
    const setting = (await readAppDefinition(this.deps.store, packageName)).settings.find((s) => s.key === key);
    if (!setting) return { code: 'UNKNOWN_SETTING', message: `${packageName} defines no setting ${key}` };
    const problem = valueProblem(setting, value);
    if (problem) return { code: 'INVALID_SETTING_VALUE', message: `${key}: ${problem}` };
    await this.deps.store.setUserSettingValue(userId, packageName, key, JSON.stringify(value));
    await this.push(userId, packageName);
    return undefined;
  }

  /**
   * Sends the app's current settings to its running session of `userId`, if its socket is open.
   * A session without one gets them in its next ack, where the SDK fires `onChange` as well.
   */
  private async push(userId: string, packageName: string): Promise<void> {
    const settings = await this.settingsFor(userId, packageName);
    // The socket is looked up after the read: it may have been replaced meanwhile.
    const app = this.deps.sessions.appSession(userId, appSessionId(userId, packageName))?.getSnapshot();
    const gen = app ? appSocketGenOf(app) : undefined;
    const socket = gen === undefined ? undefined : this.deps.sockets.get(gen);
    if (!socket) return;
    writeFrame(socket.ws, { type: 'settings_update', packageName, settings });
    writeFrame(socket.ws, { type: 'augmentos_settings_update', settings: MENTRAOS_SETTINGS });
  }

  /** Handles the glasses' `update_app_setting`; a refusal is a `connection_error` on `ws`, which stays open. */
  async fromGlasses(ws: WebSocket, userId: string, message: GlassesToCloudOf<'update_app_setting'>): Promise<void> {
    const refusal = await this.update(userId, message.packageName, message.key, message.value);
    if (!refusal) {
      this.deps.logger.info({ userId, packageName: message.packageName, key: message.key }, 'app setting changed');
      return;
    }
    this.deps.logger.warn({ userId, packageName: message.packageName, key: message.key, code: refusal.code }, 'app setting change refused');
    writeFrame(ws, { type: 'connection_error', code: refusal.code, message: `update_app_setting: ${refusal.message}` });
  }

  /** The user of `sessionId` if it is a running session of `packageName`, here or on its owner. */
  private async runningUserOf(sessionId: string, packageName: string): Promise<string | undefined> {
    const found = this.deps.sessions.findAppSession(sessionId, packageName);
    if (found) return found.userId;
    const userId = userIdOfAppSession(sessionId, packageName);
    if (userId === undefined || !this.deps.peers) return undefined;
    return (await this.deps.peers.ownerRunsAppSession(userId, sessionId, packageName)) ? userId : undefined;
  }

  /** The router of {@link APP_SETTINGS_PATH}. */
  router(): Router {
    const router = Router();
    router.get(APP_SETTINGS_PATH, async (req, res) => {
      const packageName = String(req.params['packageName']);
      const sessionId = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (sessionId === undefined) return refuse(this.deps.logger, req, res, 'UNAUTHORIZED', 'Authorization: Bearer <sessionId> is required');
      const userId = await this.runningUserOf(sessionId, packageName);
      if (userId === undefined) return refuse(this.deps.logger, req, res, 'SESSION_NOT_FOUND', 'No running session of this app has this id');
      res.json({ success: true, settings: await this.settingsFor(userId, packageName) });
    });
    return router;
  }
}
