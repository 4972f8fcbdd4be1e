import { describe, expect, it } from 'vitest';
import {
  classifyClose,
  CloseCode,
  CloseReason,
  closeReason,
  isSendableCloseCode,
  MAX_CLOSE_REASON_BYTES,
} from '../../src/protocol/index.js';
import type { CloseClass } from '../../src/protocol/index.js';

// The close-code table of ARCHITECTURE.md, row by row.
const table: Array<[code: number, reason: string, expected: CloseClass]> = [
  [1000, '', 'normal'],
  [1001, '', 'normal'],
  [1011, 'App stopped', 'normal'],
  [1011, 'User session ended', 'normal'],
  [1012, 'User session ended', 'normal'],
  [1000, 'App stopped', 'normal'],
  [1006, '', 'retry'],
  [1011, '', 'retry'],
  [1012, 'server restart', 'retry'],
  [1013, '', 'retry'],
  [1014, '', 'retry'],
  [1008, '', 'terminal'],
  [4001, '', 'terminal'],
  [1008, 'App stopped', 'terminal'],
  [4001, 'User session ended', 'terminal'],
  [4003, 'replaced', 'normal'],
  [4000, '', 'retry'],
  [1005, '', 'retry'],
  [3000, '', 'retry'],
];

describe('classifyClose', () => {
  it.each(table)('classifies %i "%s" as %s', (code, reason, expected) => {
    expect(classifyClose(code, reason)).toBe(expected);
  });

  it('matches intentional reasons as substrings, as @mentra/sdk does', () => {
    expect(classifyClose(1011, `Clean disconnect: ${CloseReason.APP_STOPPED}`)).toBe('normal');
  });

  it('treats a missing reason as empty', () => {
    expect(classifyClose(CloseCode.ABNORMAL)).toBe('retry');
  });
});

describe('closeReason', () => {
  it('leaves a short reason unchanged', () => {
    expect(closeReason('App stopped')).toBe('App stopped');
  });

  it('cuts ASCII text to the byte limit', () => {
    expect(closeReason('a'.repeat(500))).toBe('a'.repeat(MAX_CLOSE_REASON_BYTES));
  });

  it('never splits a multi-byte character', () => {
    const twoByte = closeReason('é'.repeat(100));
    expect(twoByte).toBe('é'.repeat(61));
    const fourByte = closeReason('😀'.repeat(40));
    expect(fourByte).toBe('😀'.repeat(30));
    for (const text of [twoByte, fourByte, closeReason(`ab${'€'.repeat(80)}`)]) {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
      expect(Buffer.from(text).toString('utf8')).toBe(text);
    }
  });
});

describe('isSendableCloseCode', () => {
  it('refuses the codes only a receiver may observe', () => {
    for (const code of [1004, 1005, 1006, 1015, 999, 2999, 5000, 1000.5]) expect(isSendableCloseCode(code)).toBe(false);
  });

  it('accepts the codes the cloud sends', () => {
    for (const code of [1000, 1001, 1008, 1009, 1011, 1012, 1013, 4000, 4001, 4003]) {
      expect(isSendableCloseCode(code)).toBe(true);
    }
  });
});
