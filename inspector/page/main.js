/**
 * Wires the inspector page: the feed (or an imported trace) fills the actor store; the views
 * render from it on the next animation frame. Live mode follows `/inspector/ws`; replay mode
 * shows an imported trace at the step the slider picks, with no server needed.
 */

import { ActorStore, HISTORY_WINDOW_MS } from './actorStore.js';
import { labelOf } from './actorRows.js';
import { createActorTree } from './actorTree.js';
import { createChartView } from './chartView.js';
import { createContextTree } from './contextTree.js';
import { h } from './dom.js';
import { createEventLog } from './eventLog.js';
import { connectFeed } from './feed.js';
import { createFrameScheduler } from './frameScheduler.js';
import { createReplayModel } from './replayModel.js';
import { formatStateValue } from './stateValue.js';
import { createTimeline } from './timeline.js';
import { downloadTrace, parseTrace } from './trace.js';

/** Records kept for the selected actor (the hub keeps as many). */
const MAX_RECORDS = 1000;
/** Lanes drawn at most in the timeline. */
const MAX_LANES = 12;
/** Shortest time window the live timeline shows, in ms. */
const MIN_TIMELINE_MS = 5000;

/**
 * @typedef {{ id: string, definition: import('./types.js').StateDef | null, snapshot: { value: unknown, context?: unknown, status?: string, tags?: string[] },
 *   records: import('./eventLog.js').TraceRecord[] }} Detail
 */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

const liveStore = new ActorStore();
/** @type {{ model: ReturnType<typeof createReplayModel>, store: ActorStore, step: number, name: string } | null} */
let replay = null;
/** @type {string | null} */
let selectedId = null;
/** @type {Detail | null} */
let detail = null;
/** Definitions seen, by machine id: a newly selected actor is drawn before its detail arrives. */
const definitions = /** @type {Map<string, import('./types.js').StateDef>} */ (new Map());
/** Page-side figures the end-to-end test reads. */
const metrics = { listRenders: /** @type {Array<{ at: number, count: number }>} */ ([]) };
window.tetherInspector = { metrics };

const activeStore = () => replay?.store ?? liveStore;

const tree = createActorTree({
  root: $('tree'),
  getActors: () => activeStore().actors.values(),
  getActor: (id) => activeStore().actors.get(id),
  onSelect: select,
});
const chart = createChartView({ root: $('chart') });
const contextTree = createContextTree({ root: $('context') });
const eventLog = createEventLog({ root: $('events') });
const timeline = createTimeline({ root: $('timeline') });

const scheduler = createFrameScheduler({
  tree: () => {
    tree.render();
    const count = Number($('tree').querySelector('[data-testid="actor-count"]')?.getAttribute('data-count') ?? 0);
    if (metrics.listRenders.at(-1)?.count !== count) {
      metrics.listRenders.push({ at: performance.now(), count });
      if (metrics.listRenders.length > 50) metrics.listRenders.shift();
    }
  },
  selection: renderSelection,
  timeline: renderTimeline,
});
tree.setRenderRequest(() => scheduler.invalidate('tree'));

for (const store of [liveStore]) store.subscribe(onStoreChange);

/** @param {{ structure: boolean, ids: string[] }} change */
function onStoreChange(change) {
  if (change.structure) tree.invalidateStructure();
  scheduler.invalidate('tree');
  if (selectedId && change.ids.includes(selectedId)) scheduler.invalidate('selection');
}

// ---- live feed ---------------------------------------------------------------------------

const feed = connectFeed({
  onMessage: onFeedMessage,
  onStatus(status) {
    const el = $('feed-status');
    el.dataset.status = status;
    el.textContent = status === 'open' ? 'live' : status === 'connecting' ? 'connecting…' : 'disconnected — retrying';
  },
  onOpen() {
    if (selectedId && !replay) feed.send({ type: 'select', id: selectedId });
  },
});

/** @param {import('./types.js').FeedServerMessage} message */
function onFeedMessage(message) {
  switch (message.type) {
    case 'hello':
      liveStore.reset(Array.isArray(message.actors) ? message.actors : [], message.now);
      break;
    case 'actors':
      liveStore.apply(message.upserts ?? [], message.removed ?? []);
      break;
    case 'detail':
      if (message.id !== selectedId || replay) return;
      if (message.definition?.id) definitions.set(message.definition.id, message.definition);
      detail = {
        id: message.id,
        definition: message.definition ?? null,
        snapshot: message.snapshot ?? { value: liveStore.actors.get(message.id)?.value },
        records: (message.records ?? []).slice(-MAX_RECORDS),
      };
      liveStore.addHistory(message.id, transitionsOf(detail.records));
      scheduler.invalidate('selection', 'timeline');
      break;
    case 'records':
      if (message.id !== selectedId || replay || !detail) return;
      detail.records = detail.records.concat(message.records ?? []).slice(-MAX_RECORDS);
      if (message.snapshot) detail.snapshot = message.snapshot;
      liveStore.addHistory(message.id, transitionsOf(message.records ?? []));
      scheduler.invalidate('selection', 'timeline');
      break;
    case 'export':
      if (message.trace) downloadTrace(message.trace, exportName());
      break;
    case 'error':
      notify(`Server: ${message.message ?? message.code ?? 'error'}`);
      break;
    default:
      break;
  }
}

/**
 * State changes carried by transition records, for the timeline.
 * @param {import('./eventLog.js').TraceRecord[]} records
 */
function transitionsOf(records) {
  return records.filter((r) => r.kind === 'transition' && r.to !== undefined).map((r) => ({ t: r.t, value: r.to }));
}

// ---- selection ---------------------------------------------------------------------------

/** @param {string} id */
function select(id) {
  if (id === selectedId) return;
  selectedId = id;
  tree.setSelected(id);
  tree.invalidateStructure();
  if (replay) {
    detail = replay.model.detailAt(id, replay.step);
  } else {
    const summary = liveStore.actors.get(id);
    const known = summary?.machineId ? definitions.get(summary.machineId) : undefined;
    detail = summary ? { id, definition: known ?? null, snapshot: { value: summary.value, status: summary.status, tags: summary.tags }, records: [] } : null;
    feed.send({ type: 'select', id });
  }
  scheduler.invalidate('tree', 'selection', 'timeline');
}

function renderSelection() {
  const summary = selectedId ? activeStore().actors.get(selectedId) : undefined;
  const title = $('selected-title');
  const pill = $('selected-state');
  $('export').toggleAttribute('disabled', !selectedId && !replay);
  if (!selectedId || !summary) {
    title.textContent = selectedId ? `${selectedId} (gone)` : 'No actor selected';
    pill.textContent = '';
    void chart.show(selectedId, null, undefined);
    contextTree.render(undefined);
    eventLog.render([]);
    return;
  }
  const value = detail?.id === selectedId && detail.snapshot?.value !== undefined ? detail.snapshot.value : summary.value;
  title.replaceChildren(
    h('span', { class: 'sel-label', text: labelOf(summary) }),
    h('span', { class: 'sel-meta', text: `${summary.machineId ?? 'actor'} · ${summary.systemId ?? summary.id} · ${summary.source}` }),
  );
  pill.textContent = `${formatStateValue(value)}${summary.status !== 'active' ? ` · ${summary.status}` : ''}`;
  pill.dataset.status = summary.status;
  const definition = detail?.id === selectedId ? detail.definition : null;
  if (definition || detail?.id === selectedId) {
    if (chart.actorId === selectedId && definition && $('chart').querySelector('[data-testid="chart"]')?.getAttribute('data-machine-id') === definition.id) {
      chart.setValue(value);
    } else {
      void chart.show(selectedId, definition, value);
    }
  }
  contextTree.render(detail?.id === selectedId ? detail.snapshot?.context : undefined);
  eventLog.render(detail?.id === selectedId ? detail.records : [], selectedId);
}

// ---- timeline ----------------------------------------------------------------------------

function renderTimeline() {
  const store = activeStore();
  const selected = selectedId ? store.actors.get(selectedId) : undefined;
  const laneActors = selected ? lanesFor(selected, [...store.actors.values()]) : [];
  const lanes = laneActors.map((actor) => ({
    id: actor.id,
    label: `${actor.machineId ?? 'actor'} · ${labelOf(actor)}`,
    changes: replay ? replay.model.historyOf(actor.id) : store.history(actor.id),
  }));
  if (replay) {
    timeline.render({ lanes, from: replay.model.from, to: replay.model.to, cursor: replay.model.timeOf(replay.step), selectedId });
  } else {
    // The window grows with what there is to show, up to the history kept (5 minutes).
    const to = store.now();
    const earliest = Math.min(...lanes.map((l) => l.changes[0]?.t ?? to), to);
    const span = Math.min(HISTORY_WINDOW_MS, Math.max(MIN_TIMELINE_MS, (to - earliest) * 1.05));
    timeline.render({ lanes, from: to - span, to, selectedId });
  }
}

/**
 * The actors drawn as lanes next to `selected`: its user's session and app sessions, or the
 * machines of the same SDK process.
 * @param {import('./actorStore.js').ActorSummary} selected
 * @param {import('./actorStore.js').ActorSummary[]} all
 */
function lanesFor(selected, all) {
  const related = all.filter((a) =>
    a.machineId &&
    a.source === selected.source &&
    (selected.userId ? a.userId === selected.userId || (selected.source !== 'cloud' && !a.userId) : a.id === selected.id),
  );
  if (!related.some((a) => a.id === selected.id)) related.unshift(selected);
  const order = ['userSession', 'appSession', 'appConnection'];
  related.sort((a, b) => order.indexOf(a.machineId ?? '') - order.indexOf(b.machineId ?? '') || labelOf(a).localeCompare(labelOf(b)));
  return related.slice(0, MAX_LANES);
}

setInterval(() => {
  if (!replay && selectedId && !document.hidden) scheduler.invalidate('timeline');
}, 1000);

// ---- export and import -------------------------------------------------------------------

$('export').addEventListener('click', () => {
  if (replay) {
    downloadTrace(replay.model.trace, replay.name.replace(/\.json$/, ''));
    return;
  }
  const summary = selectedId ? liveStore.actors.get(selectedId) : undefined;
  if (!summary) return;
  const scope = /** @type {HTMLSelectElement} */ ($('export-scope')).value;
  feed.send(scope === 'user' && summary.userId ? { type: 'export', userId: summary.userId } : { type: 'export', id: summary.id });
});

function exportName() {
  const summary = selectedId ? liveStore.actors.get(selectedId) : undefined;
  const scope = /** @type {HTMLSelectElement} */ ($('export-scope')).value;
  if (scope === 'user' && summary?.userId) return `user-${summary.userId}`;
  return summary?.systemId ?? summary?.id ?? 'actor';
}

$('import').addEventListener('change', (event) => void importTrace(/** @type {HTMLInputElement} */ (event.target)));

/**
 * Replays the trace file chosen in `input` (a toast says why when it is not one).
 * @param {HTMLInputElement} input
 */
async function importTrace(input) {
  const file = input.files?.[0];
  input.value = '';
  if (!file) return;
  try {
    startReplay(parseTrace(await file.text()), file.name);
  } catch (error) {
    notify(/** @type {Error} */ (error).message);
  }
}

/**
 * @param {import('./trace.js').Trace} trace
 * @param {string} name
 */
function startReplay(trace, name) {
  const model = createReplayModel(trace);
  const store = new ActorStore();
  store.subscribe(onStoreChange);
  replay = { model, store, step: 0, name };
  feed.send({ type: 'select', id: null }); // the live selection's records are not needed while replaying
  document.body.classList.add('replaying');
  $('replay-bar').hidden = false;
  $('replay-name').textContent = name;
  const slider = /** @type {HTMLInputElement} */ ($('replay-step'));
  slider.max = String(Math.max(0, model.steps.length - 1));
  slider.value = '0';
  selectedId = null;
  setStep(0);
  const first = trace.actors.find((a) => a.summary.machineId === 'userSession') ?? trace.actors[0];
  if (first) select(first.summary.id);
}

/** @param {number} index */
function setStep(index) {
  if (!replay) return;
  replay.step = index;
  replay.store.reset(replay.model.summariesAt(index));
  const step = replay.model.steps[index];
  tree.setStepping(step?.actorId ?? null);
  tree.invalidateStructure();
  if (selectedId) detail = replay.model.detailAt(selectedId, index);
  const actor = step ? replay.model.trace.actors.find((a) => a.summary.id === step.actorId) : undefined;
  const snap = actor && step ? actor.snapshots[step.snapshotIndex] : undefined;
  $('replay-position').textContent = step
    ? `step ${index + 1} / ${replay.model.steps.length} · ${new Date(step.t).toLocaleTimeString()} · ${actor ? labelOf(actor.summary) : ''} → ${formatStateValue(snap?.value)}`
    : 'empty trace';
  scheduler.invalidate('tree', 'selection', 'timeline');
}

$('replay-step').addEventListener('input', (event) => setStep(Number(/** @type {HTMLInputElement} */ (event.target).value)));

$('replay-exit').addEventListener('click', () => {
  replay = null;
  document.body.classList.remove('replaying');
  $('replay-bar').hidden = true;
  tree.setStepping(null);
  selectedId = null;
  detail = null;
  tree.setSelected(null);
  tree.invalidateStructure();
  scheduler.invalidate('tree', 'selection', 'timeline');
});

// ---- misc --------------------------------------------------------------------------------

/** @param {string} text */
function notify(text) {
  const toast = $('toast');
  toast.textContent = text;
  toast.hidden = false;
  setTimeout(() => {
    toast.hidden = true;
  }, 5000);
}

window.addEventListener('resize', () => {
  tree.invalidateStructure();
  chart.refit();
  scheduler.invalidate('tree', 'timeline');
});

scheduler.invalidate('tree', 'selection', 'timeline');
