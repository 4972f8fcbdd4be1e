import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorInfo, parseMessage } from '../../src/protocol/index.js';
import type { Side } from '../../src/protocol/index.js';
import { appToCloudFrames } from './fixtures/mentraWire.js';
import { seededRandom } from '../support/seededRandom.js';

const sides: Side[] = ['glassesToCloud', 'cloudToGlasses', 'appToCloud', 'cloudToApp'];
const formatCodes = ERROR_CODES.filter((code) => errorInfo(code).category === 'format');

function randomBytes(random: () => number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

// Bytes of a real frame with a few flipped, so many inputs get past JSON.parse.
function mutatedFrame(random: () => number): Buffer {
  const frames = Object.values(appToCloudFrames);
  const bytes = Buffer.from(frames[Math.floor(random() * frames.length)] ?? '{}');
  const flips = 1 + Math.floor(random() * 4);
  for (let i = 0; i < flips; i++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
  return bytes;
}

describe('parseMessage fuzz', () => {
  it('never throws on 500 random byte strings and always answers ok or a format code', () => {
    const random = seededRandom(0x7e7e7);
    for (let i = 0; i < 500; i++) {
      const bytes = i % 2 === 0 ? randomBytes(random, Math.floor(random() * 300)) : mutatedFrame(random);
      const side = sides[i % sides.length] ?? 'appToCloud';
      for (const raw of [bytes, bytes.toString('latin1'), [bytes.subarray(0, 3), bytes.subarray(3)]]) {
        const result = parseMessage(side, raw);
        if (!result.ok) expect(formatCodes).toContain(result.error.code);
      }
    }
  });
});
