// `voxprep doctor`: what this installation runs on, from the versions down to the backend.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { native, packageRoot } from './native.js';
import { voxprepVersion } from './version.js';

export interface DoctorReport {
  voxprep: { version: string; packageRoot: string };
  node: { version: string; napiVersion: number; platform: string; arch: string };
  addon:
    | {
        loaded: true;
        path: string;
        /** prebuilt: from prebuilds/ in the package; source: built at install (or in a checkout). */
        origin: 'prebuilt' | 'source';
        napiVersion: number;
      }
    | { loaded: false; error: string };
  cpu: { model: string; cores: number; features: Record<string, boolean> };
  threads: { default: number; pool: number } | null;
  cuda: {
    compiled: boolean;
    architectures: string[];
    /** null: not looked up (a build without CUDA kernels never looks for a driver). */
    driver: string | null;
    devices: { index: number; name: string }[] | null;
    note: string;
  };
  device: { auto: string; reason: string };
  ok: boolean;
}

export function doctor(): DoctorReport {
  const require = createRequire(import.meta.url);
  const node = {
    version: process.version,
    napiVersion: Number(process.versions.napi),
    platform: process.platform,
    arch: process.arch,
  };
  const cpus = os.cpus();
  const cpu = { model: cpus[0]?.model?.trim() ?? 'unknown', cores: os.availableParallelism(), features: {} as Record<string, boolean> };
  let addon: DoctorReport['addon'];
  let threads: DoctorReport['threads'] = null;
  let cuda: DoctorReport['cuda'] = {
    compiled: false,
    architectures: [],
    driver: null,
    devices: null,
    note: 'unknown: the addon did not load',
  };
  try {
    const info = native().engineInfo();
    const file = (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
    const rel = path.relative(packageRoot, file);
    addon = {
      loaded: true,
      path: file,
      origin: rel.split(path.sep)[0] === 'prebuilds' ? 'prebuilt' : 'source',
      napiVersion: info.napiVersion,
    };
    cpu.features = info.cpu;
    threads = { default: info.defaultThreads, pool: info.poolThreads };
    cuda = info.cuda.compiled
      ? {
          compiled: true,
          architectures: info.cuda.architectures,
          driver: null,
          devices: null,
          note: 'CUDA kernels are compiled in, but this version has no CUDA backend to look up a driver or devices',
        }
      : {
          compiled: false,
          architectures: [],
          driver: null,
          devices: null,
          note: 'not compiled in: this build has no CUDA kernels, so no driver or devices were looked up',
        };
  } catch (err) {
    addon = { loaded: false, error: err instanceof Error ? err.message : String(err) };
  }
  return {
    voxprep: { version: voxprepVersion(), packageRoot },
    node,
    addon,
    cpu,
    threads,
    cuda,
    // There is no GPU backend yet: every run is on the CPU, and so would `--device auto` be.
    device: { auto: 'cpu', reason: 'voxprep has no GPU backend yet: everything runs on the CPU' },
    ok: addon.loaded,
  };
}

export function formatDoctor(d: DoctorReport): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const lines = [
    `voxprep ${d.voxprep.version} (${d.voxprep.packageRoot})`,
    `  node:          ${d.node.version}, Node-API ${d.node.napiVersion}, ${d.node.platform}-${d.node.arch}`,
  ];
  if (d.addon.loaded) {
    lines.push(
      `  addon:         ${d.addon.origin === 'prebuilt' ? 'prebuilt' : 'built from source'}, Node-API ${d.addon.napiVersion}: ${d.addon.path}`,
    );
  } else {
    lines.push(`  addon:         NOT LOADED`, ...d.addon.error.split('\n').map((l) => `    ${l}`));
  }
  const features = Object.entries(d.cpu.features);
  lines.push(
    `  cpu:           ${d.cpu.model}, ${d.cpu.cores} cores`,
    `  cpu features:  ${features.length > 0 ? features.map(([k, v]) => `${k.replace('_', '.')} ${yes(v)}`).join(', ') : 'unknown'}`,
    `  threads:       ${d.threads ? `${d.threads.default} (files processed at once by default)` : 'unknown'}`,
    `  cuda:          ${d.cuda.compiled ? `compiled in for ${d.cuda.architectures.join(', ')}` : 'not compiled in (this build has no CUDA kernels)'}`,
    `  cuda driver:   ${d.cuda.driver ?? 'not looked up'}`,
    `  cuda devices:  ${d.cuda.devices ? d.cuda.devices.map((g) => `${g.index}: ${g.name}`).join(', ') || 'none' : 'not looked up'}`,
    `  --device auto: would use the ${d.device.auto} (${d.device.reason})`,
  );
  return lines.join('\n');
}
