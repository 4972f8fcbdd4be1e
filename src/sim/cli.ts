/**
 * `npm run sim -- --token <jwt> [--url ws://127.0.0.1:8002/glasses-ws] [--apps a,b] [--say "text"]`:
 * simulated glasses from the command line. Connects, declares its running apps, speaks a line of
 * transcription every few seconds, prints what the cloud shows, and closes on Ctrl-C.
 * `--photo|--audio|--led|--location answer|fail|ignore` say how apps' requests are answered
 * (default `answer`: a photo is uploaded, audio "played", the LED "lit", a fix reported).
 */
import { parseArgs } from 'node:util';
import { SimulatedGlasses } from './glassesClient.js';
import { RequestResponder, type ResponderMode } from './requestResponder.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8002/glasses-ws' },
    token: { type: 'string' },
    apps: { type: 'string' },
    say: { type: 'string', default: 'hello from the simulated glasses' },
    every: { type: 'string', default: '3000' },
    photo: { type: 'string', default: 'answer' },
    audio: { type: 'string', default: 'answer' },
    led: { type: 'string', default: 'answer' },
    location: { type: 'string', default: 'answer' },
  },
});
const MODES: readonly string[] = ['answer', 'fail', 'ignore'];
const modeOf = (flag: string, value: string): ResponderMode => {
  if (MODES.includes(value)) return value as ResponderMode;
  console.error(`--${flag} must be one of ${MODES.join(', ')}`);
  process.exit(2);
};
if (!values.token) {
  console.error('usage: npm run sim -- --token <core token> [--url …] [--apps pkg1,pkg2] [--say text] [--every ms] [--photo|--audio|--led|--location answer|fail|ignore]');
  process.exit(2);
}

const glasses = new SimulatedGlasses({
  url: values.url,
  token: values.token,
  ...(values.apps ? { runningApps: values.apps.split(',').filter(Boolean) } : {}),
});
glasses.on('message', (frame) => console.log('cloud →', JSON.stringify(frame.message)));
const responder = new RequestResponder(glasses, {
  photo: modeOf('photo', values.photo),
  audio: modeOf('audio', values.audio),
  led: modeOf('led', values.led),
  location: modeOf('location', values.location),
});
const ack = await glasses.connect();
console.log('connected', JSON.stringify(ack));
const timer = setInterval(() => glasses.transcribe(values.say, { isFinal: true }), Number(values.every));
process.on('SIGINT', () => {
  clearInterval(timer);
  void responder.stop().then(() => glasses.close(1000)).then(() => process.exit(0));
});
