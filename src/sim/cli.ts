/**
 * `npm run sim -- --token <jwt> [--url ws://127.0.0.1:8002/glasses-ws] [--apps a,b] [--say "text"]`:
 * simulated glasses from the command line. Connects, declares its running apps, speaks a line of
 * transcription every few seconds, prints what the cloud shows, and closes on Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { SimulatedGlasses } from './glassesClient.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8002/glasses-ws' },
    token: { type: 'string' },
    apps: { type: 'string' },
    say: { type: 'string', default: 'hello from the simulated glasses' },
    every: { type: 'string', default: '3000' },
  },
});
if (!values.token) {
  console.error('usage: npm run sim -- --token <core token> [--url …] [--apps pkg1,pkg2] [--say text] [--every ms]');
  process.exit(2);
}

const glasses = new SimulatedGlasses({
  url: values.url,
  token: values.token,
  ...(values.apps ? { runningApps: values.apps.split(',').filter(Boolean) } : {}),
});
glasses.on('message', (frame) => console.log('cloud →', JSON.stringify(frame.message)));
const ack = await glasses.connect();
console.log('connected', JSON.stringify(ack));
const timer = setInterval(() => glasses.transcribe(values.say, { isFinal: true }), Number(values.every));
process.on('SIGINT', () => {
  clearInterval(timer);
  void glasses.close(1000).then(() => process.exit(0));
});
