/** Ending a throwaway server this process started: by its pid, never by name. */
import type { ChildProcess } from 'node:child_process';

/**
 * Sends `signal` (the server's own fast shutdown) and resolves once the child exited; SIGKILL
 * after `graceMs` if it has not.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
