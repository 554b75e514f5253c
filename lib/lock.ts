// One run at a time in an output folder. Two runs into one folder (a job launched twice, a
// scheduler requeueing a task whose first attempt still runs) would each take the other's
// temporaries for leftovers of a crash and remove them, and mix their slices under one
// manifest. The shards of one run may share a folder: each holds a lock of its own, and a
// whole run or a merge holds the folder's, which no shard may run beside.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError, type ShardSpec } from './config.js';

const WHOLE_LOCK = '.voxprep.lock';
const LOCK_FILE = /^\.voxprep(\.shard-\d+-of-\d+)?\.lock$/;

export function lockName(shard: ShardSpec | null): string {
  return shard ? `.voxprep.shard-${shard.index}-of-${shard.count}.lock` : WHOLE_LOCK;
}

interface Holder {
  pid: number;
  host: string;
  started: string;
}

export interface OutputLock {
  /** Removes the lock file (and the output folder, if the lock made it and it stayed empty). */
  release(): Promise<void>;
}

/**
 * Takes the output folder for a run (`shard` null) or merge, or for one shard; creates the
 * folder if it is missing. Refuses with a UsageError, naming the lock file and its holder,
 * when another live run holds the folder (or, for a whole run, any of its shards). A lock
 * whose process is gone (on this host) is taken over: a run killed outright leaves its lock.
 */
export async function lockOutput(out: string, shard: ShardSpec | null, outLabel: string): Promise<OutputLock> {
  const link = await fs.readlink(out).catch(() => undefined);
  if (link !== undefined && !(await fs.stat(out).catch(() => undefined))) {
    throw new UsageError(`the output path ${outLabel} is a symbolic link to ${link}, which does not exist`);
  }
  // A file on the way, a folder it may not write in.
  const made = await fs.mkdir(out, { recursive: true }).then(
    (first) => first !== undefined,
    (err: Error) => {
      throw new UsageError(`cannot create the output folder ${outLabel}: ${err.message}`);
    },
  );
  const own = path.join(out, lockName(shard));
  const holder: Holder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  let held = false;
  const release = async () => {
    if (held) await fs.rm(own, { force: true });
    if (made) await fs.rmdir(out).catch(() => {});
  };
  try {
    await takeFile(own, holder, outLabel);
    held = true;
    // Those that may not run beside this one: for a whole run every shard, for a shard the whole run.
    const others = shard ? [WHOLE_LOCK] : (await fs.readdir(out)).filter((n) => LOCK_FILE.test(n) && n !== WHOLE_LOCK);
    for (const name of others) {
      const file = path.join(out, name);
      const other = await readHolder(file);
      if (other === 'gone') continue;
      if (other !== 'unreadable' && !isAlive(other)) {
        await fs.rm(file, { force: true });
        continue;
      }
      throw busy(outLabel, file, other);
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { release };
}

/** Creates `file` holding `holder`; a stale one is replaced once, a live one refused. */
async function takeFile(file: string, holder: Holder, outLabel: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(file, `${JSON.stringify(holder)}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const other = await readHolder(file);
    if (other === 'gone') continue;
    // A second run taking over the same stale lock at the same moment: the one that lost waits for nothing.
    if (other === 'unreadable' || isAlive(other) || attempt > 0) throw busy(outLabel, file, other);
    await fs.rm(file, { force: true });
  }
}

async function readHolder(file: string): Promise<Holder | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    return 'unreadable';
  }
  try {
    const h = JSON.parse(text) as Holder;
    if (Number.isInteger(h.pid) && typeof h.host === 'string') return h;
  } catch {
    // a lock torn by a crash as it was written: its run is over
  }
  return { pid: 0, host: os.hostname(), started: '' };
}

/** Whether the holder may still run: on another host there is no telling, so it may. */
function isAlive(h: Holder): boolean {
  if (h.host !== os.hostname()) return true;
  if (h.pid <= 0) return false;
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function busy(outLabel: string, file: string, h: Holder | 'unreadable'): UsageError {
  const who = h === 'unreadable' ? 'another run' : `another run (process ${h.pid} on ${h.host}, started ${h.started})`;
  return new UsageError(
    `${outLabel} is in use by ${who}: wait for it to end, or choose another output folder ` +
      `(if no such run is left, remove ${file})`,
  );
}
