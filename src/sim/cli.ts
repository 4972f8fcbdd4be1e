/**
 * `npm run sim -- --token <jwt> [--url ws://127.0.0.1:8002/glasses-ws] [--apps a,b] [--say "text"]`:
 * simulated glasses from the command line. Connects, declares its running apps, speaks a line of
 * transcription every few seconds (`--every 0`: never), prints what the cloud sends, and closes
 * on Ctrl-C.
 *
 * Stream events and audio, once connected:
 * - `--event <type>[=<json fields>]`, repeatable: one stream event of each, e.g.
 *   `--event touch_event='{"gesture_name":"double_tap"}' --event calendar_event --event VAD`;
 *   `--event list` prints the types.
 * - `--audio <seconds>`: a 440 Hz tone as 16 kHz 16-bit mono PCM, one binary frame per 100 ms,
 *   paced in real time; `--audio-file <path>` streams raw PCM of that format from a file instead.
 *
 * Apps' requests: `--photo|--audio-play|--led|--location answer|fail|ignore` say how they are
 * answered (default `answer`: a photo is uploaded, audio "played", the LED "lit", a fix reported).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GLASSES_STREAM_EVENT_TYPES } from '../protocol/glassesToCloud.js';
import { SimulatedGlasses } from './glassesClient.js';
import { RequestResponder, type ResponderMode } from './requestResponder.js';
import { isStreamEventType, pcmFrames, splitFrames, streamEvent } from './streamEvents.js';

const FRAME_MS = 100;
/** Bytes of one 100 ms frame of 16 kHz 16-bit mono PCM. */
const FRAME_BYTES = 3200;

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8002/glasses-ws' },
    token: { type: 'string' },
    apps: { type: 'string' },
    say: { type: 'string', default: 'hello from the simulated glasses' },
    every: { type: 'string', default: '3000' },
    event: { type: 'string', multiple: true, default: [] },
    audio: { type: 'string' },
    'audio-file': { type: 'string' },
    photo: { type: 'string', default: 'answer' },
    'audio-play': { type: 'string', default: 'answer' },
    led: { type: 'string', default: 'answer' },
    location: { type: 'string', default: 'answer' },
  },
});
if (values.event.includes('list')) {
  console.log(GLASSES_STREAM_EVENT_TYPES.join('\n'));
  process.exit(0);
}
const MODES: readonly string[] = ['answer', 'fail', 'ignore'];
const modeOf = (flag: string, value: string): ResponderMode => {
  if (MODES.includes(value)) return value as ResponderMode;
  console.error(`--${flag} must be one of ${MODES.join(', ')}`);
  process.exit(2);
};
if (!values.token) {
  console.error(
    'usage: npm run sim -- --token <core token> [--url …] [--apps pkg1,pkg2] [--say text] [--every ms]\n' +
      '                      [--event type[=json]]… [--audio seconds | --audio-file pcm16k.raw]\n' +
      '                      [--photo|--audio-play|--led|--location answer|fail|ignore]',
  );
  process.exit(2);
}

/** The events asked for, checked before connecting so a typo fails at once. */
const events = values.event.map((spec) => {
  const at = spec.indexOf('=');
  const type = at < 0 ? spec : spec.slice(0, at);
  if (!isStreamEventType(type)) {
    console.error(`unknown stream event "${type}"; --event list shows them`);
    process.exit(2);
  }
  let fields: object = {};
  if (at >= 0) {
    try {
      fields = JSON.parse(spec.slice(at + 1)) as object;
    } catch {
      console.error(`--event ${type}: the fields after = must be a JSON object`);
      process.exit(2);
    }
  }
  return streamEvent(type, fields);
});
const audio = values['audio-file']
  ? splitFrames(readFileSync(values['audio-file']), FRAME_BYTES)
  : values.audio
    ? pcmFrames(Math.ceil((Number(values.audio) * 1000) / FRAME_MS), { frameMs: FRAME_MS })
    : [];

const glasses = new SimulatedGlasses({
  url: values.url,
  token: values.token,
  ...(values.apps ? { runningApps: values.apps.split(',').filter(Boolean) } : {}),
});
glasses.on('message', (frame) => console.log('cloud →', JSON.stringify(frame.message)));
const responder = new RequestResponder(glasses, {
  photo: modeOf('photo', values.photo),
  audio: modeOf('audio-play', values['audio-play']),
  led: modeOf('led', values.led),
  location: modeOf('location', values.location),
});
glasses.on('close', (event) => console.log('closed', JSON.stringify({ code: event.code, reason: event.reason })));
const ack = await glasses.connect();
console.log('connected', JSON.stringify(ack));

for (const event of events) {
  glasses.send(event);
  console.log('glasses →', JSON.stringify(event));
}
let sent = 0;
const audioTimer =
  audio.length > 0
    ? setInterval(() => {
        const frame = audio[sent];
        if (frame === undefined) {
          clearInterval(audioTimer);
          console.log(`audio: ${sent} frames sent`);
          return;
        }
        glasses.sendAudio(frame);
        sent += 1;
      }, FRAME_MS)
    : undefined;
const every = Number(values.every);
const sayTimer = every > 0 ? setInterval(() => glasses.transcribe(values.say, { isFinal: true }), every) : undefined;
process.on('SIGINT', () => {
  clearInterval(sayTimer);
  clearInterval(audioTimer);
  void responder.stop().then(() => glasses.close(1000)).then(() => process.exit(0));
});
