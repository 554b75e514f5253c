// What the CLI test files share: where the repository and the CLI are, and a scratch folder
// per test file, made before its tests (which need the compiled JavaScript) and removed after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'voxprep.js');

/** A folder under the system's temporary folder for one test file; `.path` is set in beforeAll. */
export function scratchFolder(prefix: string): { path: string } {
  const scratch = { path: '' };
  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
      throw new Error('dist/cli.js is missing: run `npx tsc -p tsconfig.json` before these tests');
    }
    scratch.path = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(() => {
    if (scratch.path) fs.rmSync(scratch.path, { recursive: true, force: true });
  });
  return scratch;
}

/**
 * Every file under `dir`, relative, with '/' separators, sorted. A missing `dir` is an error
 * unless `missingIsEmpty` says an absent folder simply holds nothing.
 */
export function walkFiles(dir: string, opts: { missingIsEmpty?: boolean } = {}): string[] {
  if (opts.missingIsEmpty && !fs.existsSync(dir)) return [];
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) visit(r);
      else out.push(r);
    }
  };
  visit('');
  return out.sort();
}

/** voxprep's temporary files anywhere under `dir` (none where `dir` does not exist). */
export function temporaries(dir: string): string[] {
  return walkFiles(dir, { missingIsEmpty: true }).filter((f) => f.endsWith('.voxprep-tmp'));
}
