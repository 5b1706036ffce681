// How much of the machine other work took while a measurement ran: CPU time of the whole machine (/proc/stat)
// minus that of this process, its finished children (the CLI runs) and its running ones (the control plane).
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const TICKS = 100; // USER_HZ on Linux

function machineBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f; // idle and iowait are not busy
  return user + nice + system + irq + softirq + (steal ?? 0);
}

function procTicks(pid, withChildren) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of stat (utime, stime, cutime, cstime) are 12-15 here, counted after the command name.
    const [utime, stime, cutime, cstime] = f.slice(11, 15).map(Number);
    return utime + stime + (withChildren ? cutime + cstime : 0);
  } catch {
    return 0;
  }
}

/** The control plane processes this process started, from the pid file the harness keeps. */
function planePids(cacheRoot) {
  const pids = [];
  for (const dir of readdirSync(cacheRoot, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const f of readdirSync(join(cacheRoot, dir.name)).filter((x) => x.startsWith(`running.${process.pid}.`))) {
      pids.push(...readFileSync(join(cacheRoot, dir.name, f), 'utf8').split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return pids;
}

export function cpuMeter(cacheRoot) {
  const sample = () => {
    const mine = procTicks(process.pid, true) + planePids(cacheRoot).reduce((n, p) => n + procTicks(p, true), 0);
    return { at: performance.now(), busy: machineBusy(), mine };
  };
  let last = sample();
  return {
    /** Since the previous call: the share of all cores busy with other work, and with ours. */
    lap() {
      const now = sample();
      const capacity = ((now.at - last.at) / 1000) * TICKS * cpus().length;
      const busy = now.busy - last.busy;
      const mine = now.mine - last.mine;
      last = now;
      return { othersShare: Math.max(0, Math.round(((busy - mine) / capacity) * 100) / 100), oursShare: Math.round((mine / capacity) * 100) / 100 };
    },
  };
}
