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

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const rows = readme.split('\n').filter((line) => line.startsWith('| `'));

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
});
