/**
 * The line logic of Live Captions, pure: a transcription result in, the lines to show out.
 * Interim results of an utterance replace each other on the last line; a final result settles
 * that line, and the next utterance starts a new one. Only the newest lines are kept.
 */

/** Default number of lines on screen. */
export const DEFAULT_CAPTION_LINES = 3;

/** The part of a transcription result the captions use. */
export interface CaptionInput {
  text: string;
  isFinal: boolean;
}

/** Captions on screen: settled lines, then at most one interim line, oldest first. */
export interface Captions {
  /** The lines, oldest first; the last one is the interim line when {@link hasInterim}. */
  readonly lines: readonly string[];
  /** Whether the last line is an interim result that the next result replaces. */
  readonly hasInterim: boolean;
}

/** No captions yet. */
export const EMPTY_CAPTIONS: Captions = { lines: [], hasInterim: false };

/**
 * The captions after one more transcription result.
 *
 * - An interim result replaces the interim line, or is appended when the last line is settled.
 * - A final result replaces the interim line (or is appended) and settles it.
 * - Text is trimmed; an empty result only removes the interim line.
 * - Only the newest `maxLines` lines are kept.
 *
 * @param captions - the current captions (not modified)
 * @param input - the result (`text`, `isFinal`)
 * @param maxLines - lines to keep, an integer ≥ 1 (default {@link DEFAULT_CAPTION_LINES})
 */
export function applyTranscription(captions: Captions, input: CaptionInput, maxLines: number = DEFAULT_CAPTION_LINES): Captions {
  const settled = captions.hasInterim ? captions.lines.slice(0, -1) : [...captions.lines];
  const text = typeof input.text === 'string' ? input.text.trim() : '';
  const lines = text ? [...settled, text] : settled;
  const hasInterim = text !== '' && !input.isFinal;
  return { lines: lines.slice(-Math.max(1, Math.floor(maxLines))), hasInterim };
}

/** The text wall for `captions`: its lines, one per row. */
export function renderCaptions(captions: Captions): string {
  return captions.lines.join('\n');
}
