/**
 * Keeps README's reference tables in step with the code, as fastify does for its error codes:
 * a code or setting added without documentation fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorInfo } from '../src/protocol/errors.js';
import { describeSettings, type SettingRow } from '../src/config/index.js';
import { APP_SERVER_SETTINGS, APP_SESSION_SETTINGS } from '../src/sdk/config.js';
import { describeCloudSettings } from '../src/cloud/config.js';
import { AppToCloudMessageType } from '../src/protocol/appToCloud.js';
import { GLASSES_STREAM_EVENT_TYPES } from '../src/protocol/glassesToCloud.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const rows = readme.split('\n').filter((line) => line.startsWith('| `'));

/** The rows of the compatibility table: from its heading to the next heading. */
function compatibilityRows(): string[][] {
  const start = readme.indexOf('## Compatibility with @mentra/sdk 2.1.29');
  expect(start).toBeGreaterThan(-1);
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('|---'))
    .slice(1)
    .map((line) => line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
}

/**
 * The SDK calls of issue 12's table, each as fragments its row's first cell must hold: the table
 * must say for each whether it works and how.
 */
const ISSUE_12_FEATURES: ReadonlyArray<readonly string[]> = [
  ['`events.onAudioChunk`'],
  ['`events.onTouchEvent'],
  ['calendar events'],
  ['`onPhoneNotificationDismissed`'],
  ['`dashboard.content.write`', '`writeToMain`'],
  ['`settings.fetch()`'],
  ['`settings.onChange`'],
  ['`simpleStorage`', '`set`', '`get`', '`delete`'],
  ['`camera.requestPhoto`'],
  ['`audio.playAudio`'],
  ['`audio.speak`'],
  ['`location.getLatestLocation`'],
  ['`led.*`'],
  ['app rooms and broadcasts'],
  ['`broadcastToAppUsers`'],
  ['`sendDirectMessage`'],
  ['`discoverAppUsers'],
  ['permission check'],
];

/** The README row of a setting: its name, each variable it reads, its default, in backticks. */
function expectDocumented(row: SettingRow, section: string): void {
  const line = readme
    .slice(readme.indexOf(section))
    .split('\n')
    .find((l) => l.startsWith(`| \`${row.name}\` |`));
  expect(line, row.name).toBeDefined();
  const cells = line!.split('|').map((c) => c.trim());
  for (const env of row.env.split(', ')) expect(cells[2], row.name).toContain(`\`${env}\``);
  expect(cells[3], row.name).toBe(`\`${row.default}\``);
}

describe('README', () => {
  it('lists every error code with its category, close code and HTTP status', () => {
    for (const code of ERROR_CODES) {
      const info = errorInfo(code);
      const row = rows.find((r) => r.startsWith(`| \`${code}\` |`));
      expect(row, code).toBeDefined();
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells.slice(2, 5), code).toEqual([info.category, String(info.closeCode ?? '—'), String(info.httpStatus)]);
    }
  });

  it('lists every SDK setting with its environment variables and default', () => {
    for (const row of describeSettings(APP_SESSION_SETTINGS)) expectDocumented(row, '### SDK: each `AppSession`');
    for (const row of describeSettings(APP_SERVER_SETTINGS)) expectDocumented(row, '### SDK: `AppServer`');
  });

  it('lists every cloud setting with its environment variable and shown default', () => {
    for (const row of describeCloudSettings()) expectDocumented(row, '### Cloud settings');
  });

  it('states one precedence, without a webhook level', () => {
    expect(readme).toContain('a value given in code > the environment > the default');
    expect(readme).not.toMatch(/value from the webhook >/);
  });

  it('has a compatibility row, supported or not and how, for every SDK call of issue 12', () => {
    const rows = compatibilityRows();
    for (const row of rows) {
      expect(row, row[0]).toHaveLength(4);
      expect(row[1], row[0]).toMatch(/^(yes|no|yes, with TLS|not used)$/);
      expect(row[2], row[0]).not.toBe('');
    }
    for (const fragments of ISSUE_12_FEATURES) {
      const row = rows.find((cells) => fragments.every((fragment) => cells[0]!.includes(fragment)));
      expect(row, fragments.join(' ')).toBeDefined();
    }
  });

  it('names every app message type of @mentra/sdk 2.1.29 and every glasses stream event in the compatibility table', () => {
    const table = compatibilityRows().map((cells) => cells.join(' | ')).join('\n');
    const sdkAppTypes = Object.values(AppToCloudMessageType).filter((type) => type !== AppToCloudMessageType.HEARTBEAT);
    for (const type of [...sdkAppTypes, ...GLASSES_STREAM_EVENT_TYPES]) expect(table, type).toContain(`\`${type}\``);
  });
});
