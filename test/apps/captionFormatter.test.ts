import { describe, expect, it } from 'vitest';
import {
  EMPTY_CAPTIONS,
  applyTranscription,
  renderCaptions,
  type CaptionInput,
  type Captions,
} from '../../src/apps/captions/captionFormatter.js';

const interim = (text: string): CaptionInput => ({ text, isFinal: false });
const final = (text: string): CaptionInput => ({ text, isFinal: true });

function feed(inputs: CaptionInput[], maxLines?: number): Captions {
  return inputs.reduce((captions, input) => applyTranscription(captions, input, maxLines), EMPTY_CAPTIONS);
}

describe('captionFormatter', () => {
  it('starts empty', () => {
    expect(renderCaptions(EMPTY_CAPTIONS)).toBe('');
  });

  it('replaces the last line with each interim result', () => {
    const captions = feed([interim('hel'), interim('hello'), interim('hello wor')]);
    expect(captions.lines).toEqual(['hello wor']);
    expect(captions.hasInterim).toBe(true);
  });

  it('settles the line on a final result and starts a new line for the next utterance', () => {
    const captions = feed([interim('hello'), final('Hello world.'), interim('how')]);
    expect(captions.lines).toEqual(['Hello world.', 'how']);
    expect(captions.hasInterim).toBe(true);
  });

  it('keeps final lines one after another', () => {
    const captions = feed([final('one'), final('two')]);
    expect(captions.lines).toEqual(['one', 'two']);
    expect(captions.hasInterim).toBe(false);
  });

  it('keeps the last 3 lines by default', () => {
    const captions = feed([final('one'), final('two'), final('three'), final('four'), interim('fi')]);
    expect(captions.lines).toEqual(['three', 'four', 'fi']);
    expect(renderCaptions(captions)).toBe('three\nfour\nfi');
  });

  it('keeps maxLines lines when given', () => {
    expect(feed([final('one'), final('two'), final('three')], 1).lines).toEqual(['three']);
    expect(feed([final('one'), final('two'), final('three')], 2).lines).toEqual(['two', 'three']);
  });

  it('trims text, and an empty result only removes the interim line', () => {
    expect(feed([final('  one  ')]).lines).toEqual(['one']);
    expect(feed([final('one'), interim('tw'), interim('   ')])).toEqual({ lines: ['one'], hasInterim: false });
    expect(feed([final('one'), interim('tw'), final('')])).toEqual({ lines: ['one'], hasInterim: false });
    expect(feed([final('one'), final('')]).lines).toEqual(['one']);
  });

  it('never modifies the captions it is given', () => {
    const before = feed([final('one'), interim('tw')]);
    const copy = structuredClone(before);
    applyTranscription(before, final('two'));
    expect(before).toEqual(copy);
  });
});
