/**
 * Machine definitions as the page draws them: the JSON of XState's `machine.toJSON()` (states,
 * nesting, parallel regions, transitions with event, guard, target and `after` delay). Each
 * machine is serialized once, the first time a page asks for it, and cached.
 */
import { createMachine, type AnyActorLogic, type AnyStateMachine } from 'xstate';
import type { MachineJSON } from './protocol.js';

/** Whether `logic` is a state machine (not a callback, promise or observable actor). */
export function isMachineLogic(logic: unknown): logic is AnyStateMachine {
  const candidate = logic as { root?: unknown; config?: unknown; toJSON?: unknown } | null | undefined;
  return !!candidate && typeof candidate === 'object' && !!candidate.root && typeof candidate.toJSON === 'function';
}

/**
 * JSON replacer for definitions: functions (inline guards, actions, `input` mappers) become
 * `{ type: <name> }`, the shape XState uses for named ones; XState's own `toJSON` helpers,
 * copied onto transitions by object spread, are dropped.
 */
function definitionReplacer(key: string, value: unknown): unknown {
  if (key === 'toJSON') return undefined;
  if (typeof value === 'function') return { type: (value as { name?: string }).name || 'inline' };
  return value;
}

// `provide()` makes a new machine around the same config, so the config is the cache key.
const localDefinitions = new WeakMap<object, MachineJSON | null>();

/** The definition of a machine running in this process; null if it cannot be serialized. */
export function machineDefinition(machine: AnyStateMachine): MachineJSON | null {
  const key = (machine.config as object | undefined) ?? machine;
  const cached = localDefinitions.get(key);
  if (cached !== undefined) return cached;
  let json: MachineJSON | null;
  try {
    json = JSON.parse(JSON.stringify(machine.toJSON(), definitionReplacer)) as MachineJSON;
  } catch {
    json = null;
  }
  localDefinitions.set(key, json);
  return json;
}

/**
 * The machine config of `logic` as `@statelyai/inspect` sends it in `@xstate.actor.definition`
 * (`JSON.stringify(logic.config)`, functions as `{ type: name }`); for other logic,
 * `{"id":<name>}`. Cached per config.
 */
export function configDefinition(logic: AnyActorLogic | undefined, name: string): string {
  const config = (logic as { config?: unknown } | undefined)?.config;
  if (!isMachineLogic(logic) || typeof config !== 'object' || config === null) return JSON.stringify({ id: name });
  const cached = configStrings.get(config);
  if (cached !== undefined) return cached;
  let text: string;
  try {
    text = JSON.stringify(config, definitionReplacer);
  } catch {
    text = JSON.stringify({ id: name });
  }
  configStrings.set(config, text);
  return text;
}
const configStrings = new WeakMap<object, string>();

/** Keys only a machine config has; a callback's definition is `{"type":…}` or `{"id":…}`. */
const MACHINE_CONFIG_KEYS = ['states', 'on', 'initial', 'after', 'always', 'entry', 'exit', 'invoke', 'context'];

/** Whether a parsed ingest definition describes a state machine. */
export function isMachineConfig(config: unknown): config is Record<string, unknown> {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return false;
  return MACHINE_CONFIG_KEYS.some((key) => key in config);
}

/**
 * Converts an ingested machine config (parsed JSON) into a {@link MachineJSON} by building the
 * machine without implementations — nothing runs, only its structure is read. Null if XState
 * refuses it.
 */
export function definitionFromConfig(config: Record<string, unknown>): MachineJSON | null {
  try {
    const machine = createMachine(config as Parameters<typeof createMachine>[0]);
    return JSON.parse(JSON.stringify(machine.toJSON(), definitionReplacer)) as MachineJSON;
  } catch {
    return null;
  }
}
