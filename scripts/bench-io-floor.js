#!/usr/bin/env node
// The benchmark's I/O floor: read every input file in full and write as many output files
// of the same sizes as voxprep wrote, with no processing in between.
import fs from 'node:fs';
import path from 'node:path';

const [dataset, out, sizesFile] = process.argv.slice(2);
const sizes = JSON.parse(fs.readFileSync(sizesFile, 'utf8'));
const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.wav') ? [path.join(dir, e.name)] : []));
const buf = Buffer.alloc(1 << 20);
let read = 0;
for (const file of walk(dataset)) {
  const fd = fs.openSync(file, 'r');
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) read += n;
  fs.closeSync(fd);
}
fs.mkdirSync(out, { recursive: true });
const payload = Buffer.alloc(Math.max(...sizes, 0), 1);
sizes.forEach((size, i) => fs.writeFileSync(path.join(out, `${i}.wav`), payload.subarray(0, size)));
process.stdout.write(JSON.stringify({ read, written: sizes.reduce((a, b) => a + b, 0) }));
