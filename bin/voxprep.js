#!/usr/bin/env node
// Launcher: the CLI lives in dist/cli.js (compiled from lib/cli.ts).
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
