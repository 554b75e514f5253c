// voxprep's own version, from its package.json (the one the running code was installed with).
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from './native.js';

let cached: string | undefined;

export function voxprepVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string };
      cached = pkg.version ?? 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
