/**
 * Keeps README's reference tables in step with the code, as fastify does for its error codes:
 * a code or setting added without documentation fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorInfo } from '../src/protocol/errors.js';
import { APP_SERVER_SETTINGS, APP_SESSION_SETTINGS } from '../src/sdk/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const rows = readme.split('\n').filter((line) => line.startsWith('| `'));

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

  it('lists every SDK setting with its environment variable and default', () => {
    for (const def of [...Object.values(APP_SESSION_SETTINGS), ...Object.values(APP_SERVER_SETTINGS)]) {
      const row = rows.find((r) => r.startsWith(`| \`${def.name}\` |`));
      expect(row, def.name).toBeDefined();
      expect(row, def.name).toContain(`\`${def.env}\``);
      expect(row, def.name).toContain(`\`${String(def.default)}\``);
    }
  });
});

describe('README cloud settings', () => {
  it('lists every cloud setting with its environment variable and shown default', async () => {
    const { describeCloudSettings } = await import('../src/cloud/config.js');
    for (const row of describeCloudSettings()) {
      const line = readme.split('\n').find((l) => l.startsWith(`| \`${row.env}\` |`));
      expect(line, row.env).toBeDefined();
      expect(line, row.env).toContain(`\`${row.default}\``);
    }
  });
});
