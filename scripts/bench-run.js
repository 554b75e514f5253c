#!/usr/bin/env node
// One voxprep run for the benchmark: preprocess DATASET into OUT with N threads and print
// the totals and per-stage thread times as JSON. Extra arguments after N: JSON options.
import { preprocess } from '../dist/index.js';

const [dataset, out, threads, extra] = process.argv.slice(2);
const result = await preprocess(dataset, out, { threads: Number(threads), overwrite: true, ...(extra ? JSON.parse(extra) : {}) });
const stages = {};
for (const f of result.files) {
  for (const [k, v] of Object.entries(f.times ?? {})) stages[k] = (stages[k] ?? 0) + v;
}
const failed = result.files.filter((f) => f.status !== 'ok');
if (failed.length) {
  process.stderr.write(failed.map((f) => `${f.relative}: ${f.error}`).join('\n') + '\n');
  process.exit(1);
}
process.stdout.write(JSON.stringify({ totalSeconds: result.totalSeconds, slices: result.slices, stages }));
