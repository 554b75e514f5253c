#!/usr/bin/env node
// prepack: warns when the package is packed without a prebuilt binary for this platform.
// Such a tarball still installs, but only where cmake and a C++ compiler are at hand (the
// install script then builds from source). Release tarballs come from `npm run release`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const binaries = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
if (binaries.length === 0) {
  process.stderr.write(
    `voxprep: warning: packing without a prebuilt binary (no ${path.relative(root, dir)}/*.node): ` +
      'installing this tarball will need cmake and a C++ compiler. `npm run release` makes the release tarball.\n',
  );
}
