/**
 * Gives the process a benchmark measures a CPU of its own (`taskset`, Linux): on two cores, a
 * node that shares its core with the clients, NATS and PostgreSQL in one layout and not in
 * another measures the scheduler as much as itself.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

function taskset(cpuList: string, pid: number): boolean {
  try {
    // -a: every thread of the process (libuv's pool, V8's GC helpers).
    execFileSync('taskset', ['-a', '-cp', cpuList, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Pins `measured` to CPU 0 and every pid of `others` to the rest; resolves with a function that
 * lets them all run anywhere again, or undefined (nothing pinned) with one CPU or no `taskset`.
 */
export function isolateCpu(measured: number, others: readonly number[]): (() => void) | undefined {
  const count = cpus().length;
  if (count < 2) return undefined;
  const all = `0-${count - 1}`;
  if (!taskset('0', measured)) return undefined;
  const rest = `1-${count - 1}`;
  const pinned = [measured, ...others.filter((pid) => taskset(rest, pid))];
  return () => {
    for (const pid of pinned) taskset(all, pid);
  };
}
