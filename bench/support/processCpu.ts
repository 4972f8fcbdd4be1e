/**
 * CPU time of processes this benchmark did not fork over IPC (`nats-server`, PostgreSQL and its
 * backends), read from `/proc`: a process's user + system time, and its children's, so that a
 * server that forks a backend per connection is counted whole. Also their pids, to pin them.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second, the unit of `/proc/<pid>/stat`'s times. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  ppid: number;
  cpuTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** `roots` and every running process whose parent is one of them, with their stats. */
function processTree(roots: readonly number[]): Array<{ pid: number } & ProcStat> {
  const wanted = new Set(roots);
  const tree: Array<{ pid: number } & ProcStat> = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat && (wanted.has(pid) || wanted.has(stat.ppid))) tree.push({ pid, ...stat });
  }
  return tree;
}

/** CPU time spent so far by `roots` and every process whose parent is one of them, in ms. */
export function processTreeCpuMs(roots: readonly number[]): number {
  const ticks = processTree(roots).reduce((sum, process) => sum + process.cpuTicks, 0);
  return (ticks / TICKS_PER_SECOND) * 1000;
}

/** The pids of `roots` and of their children (PostgreSQL's backends). */
export function processTreePids(roots: readonly number[]): number[] {
  return processTree(roots).map((process) => process.pid);
}
