// One run at a time in an output folder. Two runs into one folder (a job launched twice, a
// scheduler requeueing a task whose first attempt still runs) would each take the other's
// temporaries for leftovers of a crash and remove them, and mix their slices under one
// manifest. The shards of one run may share a folder: each holds a lock of its own, and a
// whole run or a merge holds the folder's, beside which no shard runs (nor a shard of
// another count).
//
// A lock file appears whole: written under a name of its own, then hard-linked into place,
// which fails if a lock is there. A lock whose process is gone is removed only by a run
// holding the lock's breaker (`<lock>.break`, taken the same way, held for a read and an
// unlink) that finds the same stale lock there: of several runs that saw it stale, one
// removes it, and none removes a lock another run has taken since, so that two runs never
// both hold one. (Moving the lock aside and putting back what turned out to be a live one
// was not enough: with three runs, a third could take the folder while the lock was aside.)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError, type ShardSpec } from './config.js';

const WHOLE_LOCK = '.voxprep.lock';
const LOCK_FILE = /^\.voxprep(?:\.shard-(\d+)-of-(\d+))?\.lock$/;

export function lockName(shard: ShardSpec | null): string {
  return shard ? `.voxprep.shard-${shard.index}-of-${shard.count}.lock` : WHOLE_LOCK;
}

interface Holder {
  pid: number;
  host: string;
  started: string;
}

/** A lock as read: its holder, and its text (to tell it from a lock written since). */
interface Seen {
  holder: Holder;
  text: string;
}

export interface OutputLock {
  /** Removes the lock file (and the folders the lock made, if they stayed empty). */
  release(): Promise<void>;
}

/**
 * Takes the output folder for a run (`shard` null) or merge, or for one shard; creates the
 * folder if it is missing. Refuses with a UsageError, naming the lock file and its holder,
 * when another live run holds the folder (or, for a whole run, any shard; for a shard, the
 * whole run or a shard of another count). A lock whose process is gone (on this host) is
 * taken over: a run killed outright leaves its lock.
 */
export async function lockOutput(out: string, shard: ShardSpec | null, outLabel: string): Promise<OutputLock> {
  const link = await fs.readlink(out).catch(() => undefined);
  if (link !== undefined && !(await fs.stat(out).catch(() => undefined))) {
    throw new UsageError(`the output path ${outLabel} is a symbolic link to ${link}, which does not exist`);
  }
  const made = await makeFolder(out, outLabel);
  const own = path.join(out, lockName(shard));
  let held = false;
  const release = async () => {
    if (held) await fs.rm(own, { force: true });
    // The folders it made, if they stayed empty (a run refused before writing leaves none).
    for (const dir of [...made].reverse()) if (!(await fs.rmdir(dir).then(() => true, () => false))) break;
  };
  try {
    await takeFile(own, outLabel);
    held = true;
    for (const name of await fs.readdir(out)) {
      if (name !== lockName(shard) && conflicts(name, shard)) await clearIfStale(path.join(out, name), outLabel);
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { release };
}

/**
 * The holder of `shard`'s lock in `dir` (a whole run's for null) while its run may still be
 * going, else undefined: for a merge to say "still running" rather than "not finished".
 */
export async function liveHolder(dir: string, shard: ShardSpec | null): Promise<string | undefined> {
  const seen = await look(path.join(dir, lockName(shard)));
  if (seen === 'gone' || seen === 'unreadable' || !isAlive(seen.holder)) return undefined;
  return holderText(seen.holder);
}

/** A lock's holder as the messages name it. */
function holderText(h: Holder): string {
  return `process ${h.pid} on ${h.host}, started ${h.started}`;
}

/** Whether the lock file `name` keeps a run of `shard` out of the folder. */
function conflicts(name: string, shard: ShardSpec | null): boolean {
  const m = LOCK_FILE.exec(name);
  if (!m) return false;
  if (shard === null || m[2] === undefined) return true; // a whole run: every lock; a whole run's lock: every shard
  return Number(m[2]) !== shard.count; // shards of one run share the folder
}

/**
 * Creates the output folder and its missing parents, one at a time; the folders it made,
 * outermost first. Not Node's recursive mkdir: where mkdir says ENOENT under a folder that
 * exists (procfs: `-o /proc/x`), that retries the parent and the child forever and never
 * settles. Here the first folder that cannot be made names the reason.
 */
async function makeFolder(out: string, outLabel: string): Promise<string[]> {
  const missing: string[] = [];
  for (let at = path.resolve(out); !(await exists(at)); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const dir of missing) {
    await fs.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      // Made meanwhile by another run (into the same folder, or beside it): fine.
      if (err.code !== 'EEXIST') throw new UsageError(`cannot create the output folder ${outLabel}: ${err.message}`);
    });
  }
  return missing;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** Puts this run's lock at `file`; a stale one is replaced, a live one refused. */
async function takeFile(file: string, outLabel: string): Promise<void> {
  const temp = await ownCopy(file, outLabel);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await linkIfFree(temp, file, outLabel)) return;
      await clearIfStale(file, outLabel);
    }
    throw busy(outLabel, file, 'unreadable');
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** This run as a lock file's holder, written whole under a name of its own beside `file`. */
async function ownCopy(file: string, outLabel: string): Promise<string> {
  const holder: Holder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(temp, `${JSON.stringify(holder)}\n`).catch((err: Error) => {
    throw new UsageError(`cannot write in the output folder ${outLabel}: ${err.message}`);
  });
  return temp;
}

/** Hard-links `from` as `to`; false when `to` is there already. */
async function linkIfFree(from: string, to: string, outLabel: string): Promise<boolean> {
  try {
    await fs.link(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new UsageError(`cannot write in the output folder ${outLabel}: ${(err as Error).message}`);
  }
}

/** Removes the lock `file` if its run is gone (or it is gone already); refuses if its run may live. */
async function clearIfStale(file: string, outLabel: string): Promise<void> {
  const other = await look(file);
  if (other === 'gone') return;
  if (other === 'unreadable' || isAlive(other.holder)) throw busy(outLabel, file, other);
  const now = await removeIfStill(file, other.text, outLabel);
  if (now !== 'gone') throw busy(outLabel, file, now);
}

async function look(file: string): Promise<Seen | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'unreadable';
  }
  try {
    const h = JSON.parse(text) as Holder;
    if (h && Number.isInteger(h.pid) && typeof h.host === 'string') return { holder: h, text };
  } catch {
    // not a lock voxprep wrote whole: no run holds it
  }
  return { holder: { pid: 0, host: os.hostname(), started: '' }, text };
}

/**
 * Removes the stale lock `file` if it still holds `text`, under the lock's breaker; 'gone'
 * when it was removed (or was gone), else the lock now there (another run took the folder).
 */
async function removeIfStill(file: string, text: string, outLabel: string): Promise<Seen | 'unreadable' | 'gone'> {
  const breaker = `${file}.break`;
  const mine = await ownCopy(breaker, outLabel);
  try {
    await takeBreaker(breaker, mine, outLabel);
    try {
      const now = await look(file);
      if (now === 'gone' || now === 'unreadable' || now.text !== text) return now;
      await fs.rm(file, { force: true });
      return 'gone';
    } finally {
      await fs.rm(breaker, { force: true });
    }
  } finally {
    await fs.rm(mine, { force: true });
  }
}

/**
 * Links `mine` as the breaker. Another run holds it only for a read and an unlink, so this
 * waits for it; a breaker whose run is gone (killed in between) is removed after a while.
 */
async function takeBreaker(breaker: string, mine: string, outLabel: string): Promise<void> {
  const waitMs = 5;
  for (let waited = 0; ; waited += waitMs) {
    if (await linkIfFree(mine, breaker, outLabel)) return;
    if (waited >= 2000) {
      const other = await look(breaker);
      if (other === 'unreadable' || (other !== 'gone' && isAlive(other.holder))) throw busy(outLabel, breaker, other);
      await fs.rm(breaker, { force: true });
      waited = 0;
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
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

function busy(outLabel: string, file: string, seen: Seen | 'unreadable' | 'gone'): UsageError {
  const h = typeof seen === 'string' ? undefined : seen.holder;
  const who = h && h.pid > 0 ? `another run (${holderText(h)})` : 'another run';
  return new UsageError(
    `${outLabel} is in use by ${who}: wait for it to end, or choose another output folder ` +
      `(if no such run is left, remove ${file})`,
  );
}
