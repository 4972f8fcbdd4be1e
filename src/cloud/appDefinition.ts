/**
 * What an app declares beyond its registration (issue 12 §1): its settings, each with a type and
 * a default (`@mentra/sdk`'s `AppSetting` shapes), and its permissions (`PermissionType`). The
 * admin API validates them with these schemas; the store keeps them as JSON text.
 */
import { z } from 'zod';
import type { Store } from './store.js';

/** Setting types of `@mentra/sdk` 2.1.29 (`AppSettingType`). */
const APP_SETTING_TYPES = [
  'toggle',
  'text',
  'select',
  'slider',
  'group',
  'text_no_save_button',
  'select_with_search',
  'multiselect',
  'titleValue',
  'numeric_input',
  'time_picker',
] as const;

/** Permission types of `@mentra/sdk` 2.1.29 (`PermissionType`). */
const PERMISSION_TYPES = [
  'MICROPHONE',
  'LOCATION',
  'BACKGROUND_LOCATION',
  'CALENDAR',
  'CAMERA',
  'NOTIFICATIONS',
  'READ_NOTIFICATIONS',
  'POST_NOTIFICATIONS',
  'ALL',
] as const;

/** Setting types that only lay out the settings page and hold no value. */
const DISPLAY_ONLY_TYPES: ReadonlySet<string> = new Set(['group', 'titleValue']);

/** Most settings or permissions one app declares (count). */
const MAX_ENTRIES = 100;

const optionSchema = z.object({ label: z.string().max(200), value: z.json() });

/**
 * One setting definition. Fields beyond those checked here (`maxLines`, `showSeconds`, `title`…)
 * are kept as given: the SDK reads them, the cloud does not.
 */
export const settingDefinitionSchema = z
  .looseObject({
    key: z.string().min(1).max(100).optional(),
    type: z.enum(APP_SETTING_TYPES),
    label: z.string().max(200).optional(),
    defaultValue: z.json().optional(),
    options: z.array(optionSchema).max(MAX_ENTRIES).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((s) => DISPLAY_ONLY_TYPES.has(s.type) || s.key !== undefined, { message: 'a setting that holds a value needs a key', path: ['key'] })
  .refine((s) => !['select', 'select_with_search', 'multiselect'].includes(s.type) || s.options !== undefined, {
    message: 'a select setting needs options',
    path: ['options'],
  })
  .refine((s) => s.type !== 'slider' || (s.min !== undefined && s.max !== undefined), { message: 'a slider needs min and max', path: ['min'] });

/** One setting definition as declared. */
export type SettingDefinition = z.infer<typeof settingDefinitionSchema>;

/** One permission: its type and why the app needs it. */
export const permissionSchema = z.object({ type: z.enum(PERMISSION_TYPES), description: z.string().max(500).optional() });

/** One declared permission. */
export type PermissionDefinition = z.infer<typeof permissionSchema>;

/** What the admin API accepts as an app's declaration; either part may be left out. */
export const appDefinitionSchema = z.object({
  settings: z
    .array(settingDefinitionSchema)
    .max(MAX_ENTRIES)
    .refine((list) => new Set(list.flatMap((s) => (s.key === undefined ? [] : [s.key]))).size === list.filter((s) => s.key !== undefined).length, {
      message: 'setting keys must be unique',
    })
    .optional(),
  permissions: z.array(permissionSchema).max(MAX_ENTRIES).optional(),
});

/** An app's declaration, both parts present. */
export interface AppDefinition {
  readonly settings: readonly SettingDefinition[];
  readonly permissions: readonly PermissionDefinition[];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What `packageName` declared; empty lists when it declared nothing (or its row does not parse). */
export async function readAppDefinition(store: Pick<Store, 'getAppDefinition'>, packageName: string): Promise<AppDefinition> {
  const record = await store.getAppDefinition(packageName);
  if (!record) return { settings: [], permissions: [] };
  // Written by saveAppDefinition after validation; parsed again so a hand-edited row cannot crash a request.
  const settings = z.array(settingDefinitionSchema).safeParse(parseJson(record.settingsJson));
  const permissions = z.array(permissionSchema).safeParse(parseJson(record.permissionsJson));
  return { settings: settings.success ? settings.data : [], permissions: permissions.success ? permissions.data : [] };
}

/**
 * Replaces the parts of `packageName`'s declaration that `change` gives, keeping the others;
 * false when there is no such app.
 */
export async function saveAppDefinition(store: Pick<Store, 'getAppDefinition' | 'setAppDefinition'>, packageName: string, change: z.infer<typeof appDefinitionSchema>): Promise<boolean> {
  const current = await readAppDefinition(store, packageName);
  return store.setAppDefinition(packageName, {
    settingsJson: JSON.stringify(change.settings ?? current.settings),
    permissionsJson: JSON.stringify(change.permissions ?? current.permissions),
  });
}
