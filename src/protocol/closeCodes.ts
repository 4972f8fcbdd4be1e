/**
 * Close codes for the protocol layer. The table itself lives in `machines/policy/closePolicy.ts`
 * so machines can read it without depending on `src/`; it is re-exported here, never copied.
 */
import { MAX_CLOSE_REASON_BYTES } from './limits.js';

export { classifyClose, CloseCode, CloseReason, replacedCloseCode } from '../../machines/policy/closePolicy.js';
export type { CloseClass } from '../../machines/policy/closePolicy.js';

/**
 * `text` cut to at most {@link MAX_CLOSE_REASON_BYTES} UTF-8 bytes, on a character boundary.
 * `ws` throws on a longer reason, and a cut inside a multi-byte character would make the peer
 * fail the whole close frame as invalid UTF-8.
 */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= MAX_CLOSE_REASON_BYTES) return text;
  let bytes = 0;
  let end = 0;
  // Iterating by code point keeps surrogate pairs together; a lone surrogate is encoded as
  // U+FFFD (3 bytes), which Buffer.byteLength also counts.
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > MAX_CLOSE_REASON_BYTES) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/**
 * Whether `code` may be sent in a close frame (RFC 6455 §7.4). 1004–1006 and 1015 are reserved
 * for observation only; `ws` throws when asked to send them, so callers that want a 1006 must
 * `terminate()` the socket instead.
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}
