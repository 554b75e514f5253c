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
    /** The driver's CUDA version ("13.0"); null: none found, or not looked up (a build without CUDA kernels never looks). */
    driver: string | null;
    runtime: string | null;
    devices: { index: number; name: string; computeCapability: string; memoryBytes: number }[] | null;
    usable: boolean;
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
  // What is said of CUDA when nothing was looked up (the note says why).
  const notLookedUp = (note: string): DoctorReport['cuda'] => ({
    compiled: false,
    architectures: [],
    driver: null,
    runtime: null,
    devices: null,
    usable: false,
    note,
  });
  let cuda = notLookedUp('unknown: the addon did not load');
  let device: DoctorReport['device'] = { auto: 'unknown', reason: 'the addon did not load' };
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
    if (info.cuda.compiled) {
      // The engine's one CUDA initialization of this process.
      const probe = native().cudaProbe();
      cuda = {
        compiled: true,
        architectures: info.cuda.architectures,
        driver: probe.driverVersion > 0 ? cudaVersion(probe.driverVersion) : null,
        runtime: cudaVersion(probe.runtimeVersion),
        devices: probe.devices,
        usable: probe.usable,
        note: probe.usable ? 'a usable CUDA device was found' : probe.unusable,
      };
    } else {
      cuda = notLookedUp(
        'not compiled in: this build has no CUDA kernels (nvcc was not found when it was built), so no driver or devices were looked up',
      );
    }
    const auto = native().resolveDevice('auto');
    device = { auto: auto.name, reason: auto.reason };
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
    device,
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
    `  cuda:          ${
      d.cuda.compiled
        ? `compiled in for ${d.cuda.architectures.join(', ')}${d.cuda.runtime ? ` (CUDA runtime ${d.cuda.runtime}, linked in)` : ''}`
        : d.addon.loaded
          ? 'not compiled in (this build has no CUDA kernels)'
          : 'unknown (the addon did not load)'
    }`,
    `  cuda driver:   ${d.cuda.compiled ? (d.cuda.driver ? `CUDA ${d.cuda.driver}` : 'none found') : 'not looked up'}`,
    `  cuda devices:  ${
      d.cuda.devices
        ? d.cuda.devices.map((g) => `${g.index}: ${g.name} (sm ${g.computeCapability}, ${(g.memoryBytes / 2 ** 30).toFixed(0)} GiB)`).join(', ') || 'none'
        : 'not looked up'
    }`,
    `  cuda status:   ${d.cuda.note}`,
    `  --device auto: would use ${d.device.auto} (${d.device.reason})`,
  );
  return lines.join('\n');
}

/** 13000 → "13.0" (CUDA's version numbers are 1000·major + 10·minor). */
function cudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}
